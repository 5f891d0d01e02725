"""The portal app's URLs."""

urlpatterns: list = []
