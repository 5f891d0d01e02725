"""The messaging app's URLs."""

urlpatterns: list = []
