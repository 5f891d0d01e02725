"""The feedback app's URLs."""

urlpatterns: list = []
