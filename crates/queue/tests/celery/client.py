"""Celery client side of the interop test: sends IntegraMon tasks with the real `celery`
package, as an external system would, and prints one JSON line per case with what it got back.

Usage: client.py BROKER_URL QUEUE_PREFIX
"""
import datetime
import json
import sys
import time

from celery import Celery
from celery.exceptions import TaskRevokedError

broker, prefix = sys.argv[1], sys.argv[2]
app = Celery("integramon-interop-test", broker=broker, backend="rpc://")
app.conf.task_serializer = "json"
app.conf.result_serializer = "json"
app.conf.accept_content = ["json"]


def out(case, **fields):
    print(json.dumps({"case": case, **fields}), flush=True)


# A task with kwargs; the result comes back through the rpc:// backend.
r = app.send_task(
    "integramon.messages_hot",
    kwargs={"tenant": "acme", "from": "2025-01-01T00:00:00Z"},
    queue=f"{prefix}.messages.hot",
)
out("kwargs", task_id=r.id, result=r.get(timeout=30), status=r.status)

# Positional convention: (tenant, params).
r = app.send_task(
    "integramon.message_details",
    args=[7, {"message_guid": "AGV1"}],
    queue=f"{prefix}.message_details",
)
out("args", task_id=r.id, result=r.get(timeout=30), status=r.status)

# eta: held back until then.
eta = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=3)
sent = time.time()
r = app.send_task(
    "integramon.keystore", kwargs={"tenant_id": 7}, queue=f"{prefix}.keystore", eta=eta
)
result = r.get(timeout=30)
out("eta", task_id=r.id, result=result, eta=eta.timestamp(), waited=time.time() - sent)

# Expires while waiting for a retry: the worker asks for retries of tenant "expire-me" (1 s,
# then 2 s), so the third attempt comes after `expires` and is not run but reported revoked.
# (A task already expired when sent cannot be tested reliably: Celery >= 5.3 also sets the AMQP
# expiration to 0, so RabbitMQ drops it unless a consumer is free at that very moment.)
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)
r = app.send_task(
    "integramon.keystore", kwargs={"tenant": "expire-me"}, queue=f"{prefix}.keystore", expires=expires
)
try:
    result = r.get(timeout=30)
    out("expired", task_id=r.id, result=result, error=None, expires=expires.timestamp())
except TaskRevokedError as e:
    out(
        "expired",
        task_id=r.id,
        result=None,
        error=f"TaskRevokedError: {e}",
        status=r.status,
        expires=expires.timestamp(),
    )

# An invalid job: the failure reason comes back as an exception.
r = app.send_task(
    "integramon.message_details", kwargs={"tenant": "acme"}, queue=f"{prefix}.message_details"
)
try:
    out("invalid", task_id=r.id, result=r.get(timeout=30), error=None)
except Exception as e:  # noqa: BLE001 - the type is what the test checks
    out("invalid", task_id=r.id, result=None, error=f"{type(e).__name__}: {e}", status=r.status)
