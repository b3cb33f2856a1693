"""An example Locust user class, as a team already has it, run by the harness.

    load: {user_class: "configs.apps.users:ShopperUser"}
"""

from __future__ import annotations

from locust import FastHttpUser, between, task


class ShopperUser(FastHttpUser):
    wait_time = between(0.02, 0.08)

    @task(3)
    def predict(self) -> None:
        self.client.post("/predict/", json={"prompt": "hello from locust", "max_tokens": 16}, name="predict")

    @task(1)
    def echo(self) -> None:
        with self.client.get("/api/", name="echo", catch_response=True) as response:
            if not response.content:
                response.failure("empty answer")
