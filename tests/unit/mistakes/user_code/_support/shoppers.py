"""A Locust user class, and something that is not one."""
from locust import HttpUser, task


class Shopper(HttpUser):
    @task
    def browse(self) -> None:
        self.client.get("/")


class NotAUser:
    pass
