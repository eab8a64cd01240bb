"""A small OpenAI-compatible server for tests: loopback only, started and stopped by the test,
bounded in requests and lifetime.

Its numbers are real: every log-probability comes from a local model (a ``LocalBackend``), so
exact scoring over HTTP can be compared with scoring the same weights in process. It answers

- ``POST /v1/completions`` with ``echo`` / ``logprobs`` / ``max_tokens`` (prompt as a string, a
  list of strings, or token ids, as lm-eval sends them), and
- ``POST /v1/chat/completions`` with ``logprobs`` / ``top_logprobs``,
- ``GET /v1/models``,

in the JSON shapes the vLLM and llama.cpp (llama-cpp-python) OpenAI-compatible servers document:
legacy completion ``logprobs`` = ``{tokens, token_logprobs, top_logprobs, text_offset}`` with
``null`` for the first echoed token, chat ``logprobs.content[i] = {token, logprob, bytes,
top_logprobs: [...]}``. ``flavor`` picks the server's error-body shape and its quirks (vLLM: a
``max_logprobs`` limit, list prompts, ``max_tokens=0`` with echo returns the prompt only;
llama-cpp-python: one prompt per request, ``max_tokens=0`` means "until the context is full").

Faults are injected per request by ``Fault`` rules: HTTP 429/500 with or without Retry-After,
hanging past the client's timeout, connection resets, truncated JSON, missing logprobs, top
logprobs with no digit at all, an empty choices list; servers that lie about log-probabilities
(``lie_positive``: +3.0 for every value, ``lie_bool``: JSON ``true``, ``lie_shift``: every value
+4, ``lie_nan``: NaN); and ``quote_auth``, an HTTP 500 whose message quotes the request's
Authorization header after 234 characters of padding (as a careless proxy might).
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULT_KINDS = ("429", "500", "timeout", "reset", "truncated", "no_logprobs", "non_digits", "empty_choices",
               "lie_positive", "lie_bool", "lie_shift", "lie_nan", "quote_auth")
LIES = {"lie_positive": lambda v: 3.0, "lie_bool": lambda v: True, "lie_shift": lambda v: v + 4.0,
        "lie_nan": lambda v: float("nan")}


@dataclass
class Fault:
    """Inject ``kind`` into matching requests, ``times`` times (None = always).

    ``match``: only requests whose prompt text contains this substring; ``exclude``: never requests
    containing this one; ``endpoint``: "completions" or "chat" (None = both); ``retry_after``:
    Retry-After header value for 429/500.
    """

    kind: str
    times: int | None = 1
    match: str | None = None
    endpoint: str | None = None
    retry_after: str | None = None
    exclude: str | None = None
    hits: int = 0

    def __post_init__(self):
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}")


@dataclass
class Logged:
    """One request as the server saw it."""

    path: str
    body: dict | None
    authorization: str | None
    time: float
    fault: str | None = None


class _Http(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not hold the server open
    allow_reuse_address = True
    request_queue_size = 64

    def handle_error(self, request, client_address) -> None:
        """A client that gave up (timeout) or a connection the fault reset is not a server error."""
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, OSError)):
            super().handle_error(request, client_address)


class FakeOpenAIServer:
    """Serve ``backend``'s model over an OpenAI-compatible API on 127.0.0.1 (ephemeral port).

    Use as a context manager; ``base_url`` ends in ``/v1``. ``requests`` logs what arrived.

    ``echo``: "full" (echo returns prompt logprobs), "refuse" (400) or "ignore" (answers as if
    echo were off). ``max_top_k``: the largest ``logprobs``/``top_logprobs`` accepted (None = no
    limit). ``zero_max_tokens``: whether ``max_tokens=0`` is accepted. ``completions``/``chat``:
    which endpoints exist. ``token_skew="merge_tail"``: echo the last two prompt tokens as one
    token (a server whose vocabulary differs from the client's), for prompts containing
    ``skew_match`` (None = all). ``cache``: a dict shared between servers on the same model, so
    answers computed once are reused. Bounds: ``max_requests`` (then 503) and ``max_seconds``
    (then the server shuts itself down).
    """

    def __init__(
        self,
        backend,
        *,
        model: str = "fake-model",
        flavor: str = "vllm",
        echo: str = "full",
        completions: bool = True,
        chat: bool = True,
        max_top_k: int | None = 20,
        zero_max_tokens: bool = True,
        faults: list[Fault] | tuple[Fault, ...] = (),
        token_skew: str | None = None,
        skew_match: str | None = None,
        hang_seconds: float = 1.0,
        max_requests: int = 20000,
        max_seconds: float = 300.0,
        cache: dict | None = None,
    ):
        if flavor not in ("vllm", "llamacpp"):
            raise ValueError("flavor is 'vllm' or 'llamacpp'")
        if echo not in ("full", "refuse", "ignore"):
            raise ValueError("echo is 'full', 'refuse' or 'ignore'")
        self.backend = backend
        self.tokenizer = backend.tokenizer
        self.model = model
        self.flavor = flavor
        self.echo = echo
        self.completions = completions
        self.chat = chat
        self.max_top_k = max_top_k
        self.zero_max_tokens = zero_max_tokens
        self.faults = list(faults)
        self.token_skew = token_skew
        self.skew_match = skew_match
        self.hang_seconds = hang_seconds
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.requests: list[Logged] = []
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()
        self._cache: dict = {} if cache is None else cache
        self._pieces: dict[int, str] = {}
        self._encoded: dict[str, list[int]] = {}
        self._fragments: dict = {}
        self._server: _Http | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None
        self.stopped_by_watchdog = False
        self._busy = 0

    # ---- lifecycle ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FakeOpenAIServer":
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = _Http(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._watchdog = threading.Timer(self.max_seconds, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def _expire(self) -> None:
        self.stopped_by_watchdog = True
        threading.Thread(target=self.stop, daemon=True).start()

    def stop(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # Let requests still being answered finish (bounded): a handler thread inside torch while
        # the interpreter exits aborts the process ("terminate called without an active exception").
        deadline = time.monotonic() + self.hang_seconds + 30.0
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- bookkeeping ----------------------------------------------------------------------
    def _pick_fault(self, endpoint: str, texts: list[str]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.endpoint and f.endpoint != endpoint:
                    continue
                if f.match and not any(f.match in t for t in texts):
                    continue
                if f.exclude and any(f.exclude in t for t in texts):
                    continue
                if f.times is not None and f.hits >= f.times:
                    continue
                f.hits += 1
                return f
        return None

    # ---- the model ------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """The server's tokenisation: the tokenizer's default (special tokens as it adds them)."""
        ids = self._encoded.get(text)
        if ids is None:
            ids = self.tokenizer(text)["input_ids"]
            if len(self._encoded) < 100000:
                self._encoded[text] = ids
        return ids

    def piece(self, token_id: int) -> str:
        """The text of one token, as servers print it in ``tokens``."""
        text = self._pieces.get(token_id)
        if text is None:
            text = self._pieces[token_id] = self.tokenizer.decode([token_id])
        return text

    def _logprobs(self, ids: list[int], all_positions: bool):
        """Log-softmax over the vocabulary at every position of one unpadded sequence, or only at
        its last position (what predicts the next token)."""
        import torch

        with self._model_lock, torch.inference_mode():
            # One thread: on a loaded 2-core machine, thread hand-offs cost more than a tiny model's maths.
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                out = self.backend.net(input_ids=torch.tensor([ids]), use_cache=False, logits_to_keep=0 if all_positions else 1)
                return torch.log_softmax(out.logits[0].float(), dim=-1)
            finally:
                torch.set_num_threads(threads)

    def _tops(self, rows, k: int) -> list[dict[str, float]]:
        """Top-``k`` token->logprob maps of several rows (duplicate token strings are summed)."""
        import torch

        if k <= 0:
            return [{} for _ in range(rows.shape[0])]
        if k == 1:
            values, idx = rows.max(dim=-1, keepdim=True)
        else:
            values, idx = torch.topk(rows, k, dim=-1)
        out = []
        for vs, ids in zip(values.tolist(), idx.tolist()):
            top: dict[str, float] = {}
            for v, i in zip(vs, ids):
                tok = self.piece(i)
                top[tok] = v if tok not in top else float(torch.logaddexp(torch.tensor(top[tok]), torch.tensor(v)))
            out.append(top)
        return out

    def score(self, ids: list[int], k: int, n_generate: int, prompt_tops: bool) -> dict:
        """Ids, token log-probabilities and top-``k`` maps for a prompt and ``n_generate`` greedy tokens.

        Top-k maps are computed for the prompt positions only when ``prompt_tops`` (echo).
        """
        import torch

        key = (tuple(ids), k, n_generate, prompt_tops)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        n = len(ids)
        seq = list(ids)
        rows = self._logprobs(seq, all_positions=prompt_tops)  # the last row predicts token n
        token_lp: list[float | None] = [None] * n
        tops: list[dict | None] = [None] * n
        if prompt_tops:
            token_lp[1:] = rows[:-1].gather(1, torch.tensor(seq[1:])[:, None])[:, 0].tolist()
            tops[1:] = self._tops(rows[:-1], k)
        last = rows[-1]
        generated = []
        for step in range(n_generate):
            token = int(last.argmax())
            generated.append(last)
            seq.append(token)
            token_lp.append(float(last[token]))
            if step < n_generate - 1:
                last = self._logprobs(seq, all_positions=False)[-1]
        if generated:
            tops += self._tops(torch.stack(generated), k)
        for j in range(1, len(seq)):
            if tops[j] is not None:
                tops[j].setdefault(self.piece(seq[j]), token_lp[j])
        data = {"ids": seq, "n_prompt": len(ids), "token_lp": token_lp, "tops": tops}
        with self._lock:
            if len(self._cache) < 50000:
                self._cache[key] = data
        return data


@dataclass
class _Choice:
    """A completion choice kept as its JSON text (without ``index``), reused across requests."""

    index: int
    json_text: str

    def as_dict(self) -> dict:
        return {"index": self.index, **json.loads(self.json_text)}


def _dumps(result: dict) -> bytes:
    """JSON of a response whose choices may be pre-serialised ``_Choice`` fragments."""
    choices = result.get("choices") or []
    if not any(isinstance(c, _Choice) for c in choices):
        return json.dumps(result).encode()
    head = json.dumps({k: v for k, v in result.items() if k != "choices"})
    parts = [f'{{"index": {c.index}, {c.json_text[1:]}' for c in choices]
    return (head[:-1] + ', "choices": [' + ", ".join(parts) + "]}").encode()


def _error_body(flavor: str, status: int, message: str) -> dict:
    if flavor == "vllm":
        kind = {400: "BadRequestError", 404: "NotFoundError", 429: "RateLimitError"}.get(status, "InternalServerError")
        return {"object": "error", "message": message, "type": kind, "param": None, "code": status}
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "server_error")
    return {"error": {"code": status, "message": message, "type": kind}}


class _BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeOpenAIServer

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # ---- plumbing -------------------------------------------------------------------------
    def _send(self, status: int, body: dict | bytes, headers: dict | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Abort the connection with a TCP reset and no response."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _log(self, body, fault=None) -> Logged:
        entry = Logged(self.path, body, self.headers.get("Authorization"), time.monotonic(), fault)
        with self.fake._lock:
            self.fake.requests.append(entry)
        return entry

    def do_GET(self) -> None:
        self._log(None)
        if self.path.rstrip("/").endswith("/v1/models"):
            self._send(200, {"object": "list", "data": [{"id": self.fake.model, "object": "model", "owned_by": "fake"}]})
        else:
            self._send(404, _error_body(self.fake.flavor, 404, f"no route {self.path}"))

    def do_POST(self) -> None:
        with self.fake._lock:
            self.fake._busy += 1
        try:
            self._post()
        finally:
            with self.fake._lock:
                self.fake._busy -= 1

    def _post(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            self._log(None)
            self._send(400, _error_body(fake.flavor, 400, "body is not JSON"))
            return
        if len(fake.requests) >= fake.max_requests:
            self._log(body)
            self._send(503, _error_body(fake.flavor, 503, "fake server request budget exhausted"))
            return
        path = self.path.rstrip("/")
        if path.endswith("/v1/completions") and fake.completions:
            endpoint = "completions"
        elif path.endswith("/v1/chat/completions") and fake.chat:
            endpoint = "chat"
        else:
            self._log(body)
            self._send(404, _error_body(fake.flavor, 404, f"no route {self.path}"))
            return
        try:
            texts = self._texts(endpoint, body)
        except _BadRequest as e:
            self._log(body)
            self._send(e.status, _error_body(fake.flavor, e.status, e.message))
            return
        fault = fake._pick_fault(endpoint, texts)
        self._log(body, fault.kind if fault else None)
        if fault and fault.kind in ("429", "500"):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            status = int(fault.kind)
            self._send(status, _error_body(fake.flavor, status, "injected fault"), headers)
            return
        if fault and fault.kind == "quote_auth":
            message = "x" * 234 + f" rejected header Authorization: {self.headers.get('Authorization')}"
            self._send(500, _error_body(fake.flavor, 500, message))
            return
        if fault and fault.kind == "reset":
            self._reset()
            return
        if fault and fault.kind == "timeout":
            time.sleep(fake.hang_seconds)
            self._reset()
            return
        try:
            result = self._completions(body) if endpoint == "completions" else self._chat(body)
        except _BadRequest as e:
            self._send(e.status, _error_body(fake.flavor, e.status, e.message))
            return
        if fault and fault.kind in ("empty_choices", "no_logprobs", "non_digits") + tuple(LIES):
            result["choices"] = [c.as_dict() if isinstance(c, _Choice) else c for c in result["choices"]]
        if fault and fault.kind == "empty_choices":
            result["choices"] = []
        if fault and fault.kind == "no_logprobs":
            for c in result["choices"]:
                c["logprobs"] = None
        if fault and fault.kind == "non_digits":
            self._strip_digits(result, endpoint)
        if fault and fault.kind in LIES:
            # A lie told about the prompts the rule matches (a list request's other prompts stay honest).
            hit = [fault.match is None or fault.match in t for t in texts] if endpoint == "completions" else [True]
            _lie(result, endpoint, LIES[fault.kind], hit)
        data = _dumps(result)
        if fault and fault.kind == "truncated":
            data = data[: len(data) // 2]
        self._send(200, data)

    # ---- request decoding -----------------------------------------------------------------
    def _prompts(self, body: dict) -> list[list[int]]:
        """Token ids of each prompt in a completions request (string, strings, ids or id lists)."""
        p = body.get("prompt")
        if isinstance(p, str):
            items = [p]
        elif isinstance(p, list) and p and all(isinstance(x, int) for x in p):
            items = [p]
        elif isinstance(p, list) and p:
            items = p
        else:
            raise _BadRequest(400, "prompt must be a string, a list of strings, or token ids")
        if len(items) > 1 and self.fake.flavor == "llamacpp":
            # llama-cpp-python's server asserts a single prompt and answers 500.
            raise _BadRequest(500, "Internal Server Error")
        out = []
        for it in items:
            if isinstance(it, str):
                out.append(self.fake.encode(it))
            elif isinstance(it, list) and all(isinstance(x, int) for x in it):
                out.append(list(it))
            else:
                raise _BadRequest(400, "each prompt must be a string or a list of token ids")
        return out

    def _texts(self, endpoint: str, body: dict) -> list[str]:
        """The request's prompt text(s), for matching fault rules."""
        if endpoint == "chat":
            return [str(m.get("content", "")) for m in body.get("messages") or []]
        p = body.get("prompt")
        decode = self.fake.tokenizer.decode
        if isinstance(p, str):
            return [p]
        if isinstance(p, list) and p and all(isinstance(x, int) for x in p):
            return [decode(p)]
        if isinstance(p, list):
            return [x if isinstance(x, str) else decode(x) for x in p if isinstance(x, (str, list))]
        return []

    # ---- endpoints ------------------------------------------------------------------------
    def _check_k(self, k: int) -> None:
        limit = self.fake.max_top_k
        if limit is not None and k > limit:
            if self.fake.flavor == "vllm":
                raise _BadRequest(400, f"Requested sample logprobs of {k}, which is greater than max allowed: {limit}")
            raise _BadRequest(400, f"logprobs must be at most {limit}")

    def _completions(self, body: dict) -> dict:
        fake = self.fake
        prompts = self._prompts(body)
        k = body.get("logprobs")
        echo = bool(body.get("echo"))
        if echo and fake.echo == "refuse":
            raise _BadRequest(400, "echo is not supported")
        if echo and fake.echo == "ignore":
            echo = False
        if k is not None:
            k = int(k)
            self._check_k(k)
        max_tokens = body.get("max_tokens", 16)
        max_tokens = 16 if max_tokens is None else int(max_tokens)
        if max_tokens == 0 and not fake.zero_max_tokens:
            raise _BadRequest(400, "max_tokens must be at least 1")
        if max_tokens == 0 and not echo and fake.flavor == "vllm":
            raise _BadRequest(400, "max_tokens=0 is only supported with echo")
        if max_tokens == 0 and fake.flavor == "llamacpp":
            max_tokens = 3  # "generate until the context is full", cut short here
        choices, n_prompt_total, n_gen_total = [], 0, 0
        for i, ids in enumerate(prompts):
            d = fake.score(ids, k or 0, max_tokens, prompt_tops=echo)
            n_prompt = d["n_prompt"]
            n_prompt_total += n_prompt
            n_gen_total += max_tokens
            skewed = fake.token_skew == "merge_tail" and (fake.skew_match is None or fake.skew_match in fake.tokenizer.decode(ids))
            fkey = (tuple(ids), k, max_tokens, echo, skewed, fake.flavor)
            frag = fake._fragments.get(fkey)
            if frag is not None:
                choices.append(_Choice(i, frag))
                continue
            pieces = [fake.piece(t) for t in d["ids"]]
            token_lp = list(d["token_lp"])
            tops = list(d["tops"])
            if skewed and echo and n_prompt >= 2:
                # A server with another vocabulary: the last two prompt tokens are one token there.
                j = n_prompt - 1
                pieces[j - 1 : j + 1] = [pieces[j - 1] + pieces[j]]
                token_lp[j - 1 : j + 1] = [token_lp[j - 1] + token_lp[j] if token_lp[j - 1] is not None else None]
                tops[j - 1 : j + 1] = [tops[j - 1]]
                d_prompt = n_prompt - 1
            else:
                d_prompt = n_prompt
            offsets, pos = [], 0
            for p in pieces:
                offsets.append(pos)
                pos += len(p)
            if echo:
                sel = slice(0, d_prompt) if max_tokens == 0 else slice(0, None)
            else:
                sel = slice(d_prompt, None)
            text = "".join(pieces[sel])
            logprobs = None
            if k is not None:
                logprobs = {
                    "text_offset": offsets[sel],
                    "token_logprobs": token_lp[sel],
                    "tokens": pieces[sel],
                    "top_logprobs": tops[sel],
                }
            choice = {"text": text, "logprobs": logprobs, "finish_reason": "length"}
            if fake.flavor == "vllm":
                choice.update({"stop_reason": None, "prompt_logprobs": None})
            frag = json.dumps(choice)
            with fake._lock:
                if len(fake._fragments) < 50000:
                    fake._fragments[fkey] = frag
            choices.append(_Choice(i, frag))
        return {
            "id": f"cmpl-fake{len(fake.requests)}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": body.get("model") or fake.model,
            "choices": choices,
            "usage": {"prompt_tokens": n_prompt_total, "completion_tokens": n_gen_total, "total_tokens": n_prompt_total + n_gen_total},
        }

    def _chat(self, body: dict) -> dict:
        fake = self.fake
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _BadRequest(400, "messages must be a non-empty list")
        want = bool(body.get("logprobs"))
        k = int(body.get("top_logprobs") or 0)
        if want:
            self._check_k(k)
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 16)
        text = fake.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        d = fake.score(fake.tokenizer(text, add_special_tokens=False)["input_ids"], k, max_tokens, prompt_tops=False)
        gen = d["ids"][d["n_prompt"] :]
        content = []
        for j, t in enumerate(gen, start=d["n_prompt"]):
            tok = fake.piece(t)
            top = [{"token": s, "logprob": v, "bytes": list(s.encode())} for s, v in list(d["tops"][j].items())[:k]]
            content.append({"token": tok, "logprob": d["token_lp"][j], "bytes": list(tok.encode()), "top_logprobs": top})
        return {
            "id": f"chatcmpl-fake{len(fake.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or fake.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(fake.piece(t) for t in gen)},
                    "logprobs": {"content": content} if want else None,
                    "finish_reason": "length",
                }
            ],
            "usage": {"prompt_tokens": d["n_prompt"], "completion_tokens": len(gen), "total_tokens": d["n_prompt"] + len(gen)},
        }

    def _strip_digits(self, result: dict, endpoint: str) -> None:
        """Keep only non-digit tokens in the first answer position's top logprobs."""
        for c in result["choices"]:
            lp = c.get("logprobs")
            if not lp:
                continue
            if endpoint == "chat":
                for pos in lp["content"][:1]:
                    pos["top_logprobs"] = [t for t in pos["top_logprobs"] if not t["token"].strip().isdigit()]
            else:
                tops = lp["top_logprobs"]
                if tops and tops[0] is not None:
                    tops[0] = {t: v for t, v in tops[0].items() if not t.strip().isdigit()}


def _lie(result: dict, endpoint: str, change, hit: list[bool]) -> None:
    """Replace every log-probability of the choices ``hit`` marks by ``change(value)`` (None stays None)."""
    def fix(v):
        return v if v is None else change(v)

    for c in result["choices"]:
        lp = c.get("logprobs")
        if not lp or not hit[c.get("index", 0) if c.get("index", 0) < len(hit) else 0]:
            continue
        if endpoint == "chat":
            for pos in lp["content"]:
                pos["logprob"] = fix(pos["logprob"])
                for t in pos["top_logprobs"]:
                    t["logprob"] = fix(t["logprob"])
        else:
            lp["token_logprobs"] = [fix(v) for v in lp["token_logprobs"]]
            lp["top_logprobs"] = [None if t is None else {k: fix(v) for k, v in t.items()} for t in lp["top_logprobs"]]


def main(argv: list[str] | None = None) -> int:
    """Serve a local model folder until stdin closes or ``--max-seconds`` pass (for benchmarks)."""
    import argparse
    import sys

    from polistance_plugins.engine.backends.hf import LocalBackend

    ap = argparse.ArgumentParser(description="OpenAI-compatible fake server on 127.0.0.1 (tests and benchmarks)")
    ap.add_argument("model_dir")
    ap.add_argument("--flavor", default="vllm", choices=["vllm", "llamacpp"])
    ap.add_argument("--max-top-k", type=int, default=20)
    ap.add_argument("--max-seconds", type=float, default=1800.0)
    args = ap.parse_args(argv)
    backend = LocalBackend(args.model_dir)
    with FakeOpenAIServer(backend, flavor=args.flavor, max_top_k=args.max_top_k, max_requests=10**7, max_seconds=args.max_seconds) as srv:
        print(f"READY {srv.base_url}", flush=True)
        sys.stdin.read()  # returns when the parent closes our stdin (or exits)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
