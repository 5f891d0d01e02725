"""The outreach app's URLs."""

urlpatterns: list = []
