"""The triage app's URLs."""

urlpatterns: list = []
