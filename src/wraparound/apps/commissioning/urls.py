"""The commissioning app's URLs."""

urlpatterns: list = []
