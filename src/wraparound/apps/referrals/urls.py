"""The referrals app's URLs."""

urlpatterns: list = []
