"""An example app that takes a JSON body, deployed from a local working_dir.

POST /predict {"prompt": str, "max_tokens": int, "temperature": float, "model": str}
answers {"model": ..., "tokens": [...], "temperature": ...}; a body that is not
such JSON gets a 400 with the reason, as a real inference endpoint would.
"""

from __future__ import annotations

import asyncio
import json

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse


@serve.deployment(name="Predictor")
class Predictor:
    def __init__(self, ms_per_token: float = 0.05):
        self.ms_per_token = ms_per_token

    def reconfigure(self, user_config: dict) -> None:
        # user_config from the Serve config file: changed without restarting replicas.
        self.ms_per_token = float(user_config.get("ms_per_token", self.ms_per_token))

    async def __call__(self, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
            prompt, max_tokens = str(body["prompt"]), int(body["max_tokens"])
            temperature = float(body.get("temperature", 0.0))
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"bad request body: {exc}"}, status_code=400)
        if not 1 <= max_tokens <= 512:
            return JSONResponse({"error": "max_tokens must be 1..512"}, status_code=422)
        await asyncio.sleep(self.ms_per_token * max_tokens / 1000.0)
        words = prompt.split() or ["?"]
        tokens = [words[i % len(words)] for i in range(max_tokens)]
        return JSONResponse({"model": body.get("model", "small"), "tokens": tokens, "temperature": temperature})


app = Predictor.bind()
