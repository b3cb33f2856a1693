"""Plain Locust, as its docs write it: the baseline the harness generator is compared with."""

from locust import FastHttpUser, constant, task


class PlainUser(FastHttpUser):
    wait_time = constant(0)

    @task
    def index(self) -> None:
        self.client.get("/")
