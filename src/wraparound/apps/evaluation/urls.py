"""The evaluation app's URLs."""

urlpatterns: list = []
