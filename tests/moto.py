#!/usr/bin/env python3
"""moto.py: run a local AWS (moto 5.2.1) with signature checking ON, for the tests.

The shell and C tests never talk to moto's Python API; they run this script:

    python3 tests/moto.py start DIR      # moto on a free port, writes DIR/env
    . DIR/env                            # MOTO_PORT MOTO_PID MOTO_ENDPOINT AWS_ACCESS_KEY_ID
                                         # AWS_SECRET_ACCESS_KEY AWS_REGION AWS_DEFAULT_REGION
                                         # AWS_ENDPOINT_URL SMTRAIL_ROLE_ARN
    python3 tests/moto.py setup DIR --bucket B --queue Q [--topic T] [--dlq [--max-receive N]]
                                         # appends SMTRAIL_BUCKET SMTRAIL_QUEUE_URL
                                         # [SMTRAIL_TOPIC_ARN] [SMTRAIL_DLQ_URL] to DIR/env
    python3 tests/moto.py put DIR BUCKET KEY FILE [--content-encoding gzip] [--content-type T]
    python3 tests/moto.py send DIR QUEUE_URL BODY_FILE       # the file's exact content
    python3 tests/moto.py publish DIR TOPIC_ARN MESSAGE_FILE # (UTF-8), nothing stripped
    python3 tests/moto.py receive DIR QUEUE_URL      # "visible=N inflight=M"
    python3 tests/moto.py take DIR QUEUE_URL SECONDS # receive all, keep them invisible
    python3 tests/moto.py cloudtrail-message BUCKET KEY...   # CloudTrail's SNS message, no newline
    python3 tests/moto.py publish-keys DIR TOPIC_ARN BUCKET KEY...  # one such message per key
    python3 tests/moto.py mb DIR BUCKET                      # another bucket
    eval "$(python3 tests/moto.py assume-role DIR)"  # temporary ASIA... keys + session token
    python3 tests/moto.py stop DIR       # idempotent; start DIR also stops DIR's old moto

How checking is turned on: moto checks SigV4 signatures and IAM policies once it has
served INITIAL_NO_AUTH_ACTION_COUNT requests. `start` makes exactly NO_AUTH_CALLS (3)
unchecked calls -- iam CreateUser, PutUserPolicy (allow * on *), CreateAccessKey -- and
everything after that (the role, the tests' own calls) is signed with the new user's
keys and checked.  `start` then proves it: a call signed with a wrong secret must get
403, or `start` fails.  Only requests that reach a service count; GET /moto-api/ (the
readiness poll) does not.  Every boto3 client here makes one attempt (no retries), so
a retry can never consume, or be mistaken for, one of the unchecked calls.

All AWS calls use the keys from DIR/env explicitly, never AWS_* from the environment,
so a test that has sourced DIR/env or eval'ed assume-role output still gets the user's
long-term keys here.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

# This file is itself named moto.py: keep its directory off sys.path so that
# `moto` is the package.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

REGION = "us-east-1"
NO_AUTH_CALLS = 3  # create_user, put_user_policy, create_access_key
USER = "smtrail"
ROLE = "smtrail-role"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
TRUST_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})


def die(msg):
    sys.stderr.write("moto.py: %s\n" % msg)
    sys.exit(1)


# --- DIR/env ---------------------------------------------------------------

def quote(v):
    return "'" + str(v).replace("'", "'\\''") + "'"


def write_env(d, pairs, mode="w"):
    with open(os.path.join(d, "env"), mode) as f:
        for k, v in pairs:
            f.write("export %s=%s\n" % (k, quote(v)))


def read_env(d):
    """Parse the `export K='V'` lines we wrote; later lines win."""
    env = {}
    try:
        f = open(os.path.join(d, "env"))
    except OSError:
        return env
    with f:
        for line in f:
            line = line.strip()
            if not line.startswith("export ") or "=" not in line:
                continue
            k, v = line[len("export "):].split("=", 1)
            if len(v) >= 2 and v[0] == "'" and v[-1] == "'":
                v = v[1:-1].replace("'\\''", "'")
            env[k] = v
    return env


def need_env(d):
    env = read_env(d)
    for k in ("MOTO_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        if not env.get(k):
            die("%s/env has no %s: run `moto.py start %s` first" % (d, k, d))
    return env


# --- boto3 ---------------------------------------------------------------

def client(service, endpoint, key="dummy", secret="dummy", token=None):
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        die("boto3 is not importable from %s" % sys.executable)
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                 connect_timeout=5, read_timeout=30,
                 s3={"addressing_style": "path"})
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=key, aws_secret_access_key=secret,
        aws_session_token=token, config=cfg)


def user_client(env, service):
    return client(service, env["MOTO_ENDPOINT"],
                  env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])


def error_code(e):
    r = getattr(e, "response", None) or {}
    return (r.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            r.get("Error", {}).get("Code"))


# --- start / stop --------------------------------------------------------

def moto_command():
    """moto_server of this Python: beside sys.executable, else on PATH, else -m."""
    import importlib.util
    if importlib.util.find_spec("moto") is None:
        die("moto_server not found in this Python (pip moto 5.2.1 expected): %s"
            % sys.executable)
    here = os.path.join(os.path.dirname(sys.executable), "moto_server")
    if os.access(here, os.X_OK):
        return [here]
    found = shutil.which("moto_server")
    return [found] if found else [sys.executable, "-m", "moto.server"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def log_tail(d):
    try:
        with open(os.path.join(d, "moto.log"), errors="replace") as f:
            return "".join(f.readlines()[-15:])
    except OSError:
        return ""


def wait_ready(proc, endpoint, d, timeout=30.0):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            die("moto_server exited with status %s before it was ready; %s/moto.log:\n%s"
                % (proc.returncode, d, log_tail(d)))
        try:
            with opener.open(endpoint + "/moto-api/", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    die("moto_server did not answer GET /moto-api/ within %ds; %s/moto.log:\n%s"
        % (timeout, d, log_tail(d)))


def provision(endpoint):
    """The NO_AUTH_CALLS unchecked calls, then the role with the user's keys."""
    iam = client("iam", endpoint)
    iam.create_user(UserName=USER)                                  # unchecked 1
    iam.put_user_policy(UserName=USER, PolicyName="allow-all",      # unchecked 2
                        PolicyDocument=ALLOW_ALL)
    ak = iam.create_access_key(UserName=USER)["AccessKey"]          # unchecked 3
    key, secret = ak["AccessKeyId"], ak["SecretAccessKey"]

    # Checking is on from here. Prove it before anything relies on it.
    from botocore.exceptions import ClientError
    try:
        # STS, not SQS: moto answers SQS (JSON protocol) auth errors with a query-protocol
        # XML body, which botocore reports as Code '403'.
        client("sts", endpoint, key, secret + "x").get_caller_identity()
        die("signature checking is OFF: a request signed with a wrong secret "
            "was accepted (INITIAL_NO_AUTH_ACTION_COUNT miscounted?)")
    except ClientError as e:
        status, code = error_code(e)
        if status != 403 or code not in ("SignatureDoesNotMatch", "InvalidClientTokenId"):
            die("wrong-secret check: expected 403 SignatureDoesNotMatch, got %s %s"
                % (status, code))

    iam = client("iam", endpoint, key, secret)
    arn = iam.create_role(RoleName=ROLE,
                          AssumeRolePolicyDocument=TRUST_ALL)["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE, PolicyName="allow-all", PolicyDocument=ALLOW_ALL)
    return key, secret, arn


def cmd_start(d, cmd, unchecked=False):
    os.makedirs(d, exist_ok=True)
    cmd_stop(d)  # a moto this DIR already ran must not be orphaned
    port = free_port()
    endpoint = "http://127.0.0.1:%d" % port
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(NO_AUTH_CALLS))
    if unchecked:
        # Only for what moto cannot verify: its checker rebuilds the path
        # decoded, so it refuses even boto3's signatures on S3 keys with
        # + = % or non-ASCII bytes. Signatures for those keys are checked
        # against botocore in tests/test_sigv4.c instead.
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
    t0 = time.monotonic()
    with open(os.path.join(d, "moto.log"), "ab") as log:
        proc = subprocess.Popen(cmd + ["-H", "127.0.0.1", "-p", str(port)],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=env, cwd=d,  # cwd: not tests/, see sys.path above
                                start_new_session=True, close_fds=True)
    try:
        wait_ready(proc, endpoint, d)
        if unchecked:
            iam = client("iam", endpoint)
            iam.create_user(UserName=USER)
            ak = iam.create_access_key(UserName=USER)["AccessKey"]
            key, secret, role_arn = ak["AccessKeyId"], ak["SecretAccessKey"], ""
        else:
            key, secret, role_arn = provision(endpoint)
    except BaseException:
        kill_group(proc.pid)
        raise
    write_env(d, [("MOTO_PORT", port), ("MOTO_PID", proc.pid),
                  ("MOTO_ENDPOINT", endpoint), ("AWS_ACCESS_KEY_ID", key),
                  ("AWS_SECRET_ACCESS_KEY", secret), ("AWS_REGION", REGION),
                  ("AWS_DEFAULT_REGION", REGION),  # what awscli v1/botocore read
                  ("AWS_ENDPOINT_URL", endpoint), ("SMTRAIL_ROLE_ARN", role_arn)])
    sys.stderr.write("moto.py: moto pid %d on %s, signature checking %s (%.1fs)\n"
                     % (proc.pid, endpoint, "OFF" if unchecked else "on",
                        time.monotonic() - t0))


def alive(pid):
    """True while pid exists and is not a zombie (PID 1 here may never reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def kill_group(pid):
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:  # reap it if it is our child (start's failure path)
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not alive(pid):
                return
            time.sleep(0.05)


def cmd_stop(d):
    """SIGTERM the group, SIGKILL after 5 s. moto was start's child, not ours: once dead
    it is reaped by whoever inherited it (here PID 1 may leave a zombie, which is fine:
    its port is closed)."""
    pid = read_env(d).get("MOTO_PID")
    if pid and pid.isdigit() and int(pid) > 1:
        kill_group(int(pid))


# --- the rest ------------------------------------------------------------

def cmd_assume_role(d):
    env = need_env(d)
    creds = user_client(env, "sts").assume_role(
        RoleArn=env["SMTRAIL_ROLE_ARN"], RoleSessionName="smtrail-test")["Credentials"]
    for k, v in (("AWS_ACCESS_KEY_ID", creds["AccessKeyId"]),
                 ("AWS_SECRET_ACCESS_KEY", creds["SecretAccessKey"]),
                 ("AWS_SESSION_TOKEN", creds["SessionToken"])):
        print("export %s=%s" % (k, quote(v)))


def cmd_setup(d, a):
    env = need_env(d)
    sqs = user_client(env, "sqs")
    user_client(env, "s3").create_bucket(Bucket=a.bucket)
    out = [("SMTRAIL_BUCKET", a.bucket)]
    attrs = {}
    if a.dlq:
        dlq_url = sqs.create_queue(QueueName=a.queue + "-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        attrs["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq_arn,
                                             "maxReceiveCount": str(a.max_receive)})
    url = sqs.create_queue(QueueName=a.queue, Attributes=attrs)["QueueUrl"]
    out.append(("SMTRAIL_QUEUE_URL", url))
    if a.topic:
        sns = user_client(env, "sns")
        topic = sns.create_topic(Name=a.topic)["TopicArn"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": qarn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]}
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn,
                      Attributes={"RawMessageDelivery": "false"})
        out.append(("SMTRAIL_TOPIC_ARN", topic))
    if a.dlq:
        out.append(("SMTRAIL_DLQ_URL", dlq_url))
    write_env(d, out, "a")


def read_file(path):
    """The file's exact bytes (no newline translation, nothing stripped)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        die("%s: %s" % (path, e.strerror))


def cmd_put(d, a):
    extra = {"ContentType": a.content_type}
    if a.content_encoding:
        extra["ContentEncoding"] = a.content_encoding
    user_client(need_env(d), "s3").put_object(
        Bucket=a.bucket, Key=a.key, Body=read_file(a.file), **extra)


def cmd_receive(d, url):
    at = user_client(need_env(d), "sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                      "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    print("visible=%s inflight=%s" % (at["ApproximateNumberOfMessages"],
                                      at["ApproximateNumberOfMessagesNotVisible"]))


def cmd_take(d, url, visibility):
    """Receives every visible message and keeps it: what a process that
    received them and then died leaves behind (invisible until the
    visibility timeout). Prints how many."""
    sqs = user_client(need_env(d), "sqs")
    n = 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                  VisibilityTimeout=visibility,
                                  WaitTimeSeconds=0).get("Messages", [])
        if not got:
            break
        n += len(got)
    print(n)


def main():
    import argparse
    for k in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):  # only explicit keys are used
        os.environ.pop(k, None)
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
    p = argparse.ArgumentParser(prog="moto.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("start", "stop", "assume-role"):
        s = sub.add_parser(name)
        s.add_argument("dir")
        if name == "start":
            s.add_argument("--unchecked", action="store_true",
                           help="no signature checking (see cmd_start)")
    s = sub.add_parser("setup")
    s.add_argument("dir")
    s.add_argument("--bucket", required=True)
    s.add_argument("--queue", required=True)
    s.add_argument("--topic")
    s.add_argument("--dlq", action="store_true")
    s.add_argument("--max-receive", type=int, default=3)
    s = sub.add_parser("put")
    for x in ("dir", "bucket", "key", "file"):
        s.add_argument(x)
    s.add_argument("--content-encoding")
    s.add_argument("--content-type", default="application/octet-stream")
    for name, what in (("send", "queue_url"), ("publish", "topic_arn")):
        s = sub.add_parser(name)
        for x in ("dir", what, "file"):
            s.add_argument(x)
    s = sub.add_parser("receive")
    s.add_argument("dir")
    s.add_argument("queue_url")
    s = sub.add_parser("take")
    s.add_argument("dir")
    s.add_argument("queue_url")
    s.add_argument("visibility", type=int)
    s = sub.add_parser("publish-keys")
    for x in ("dir", "topic_arn", "bucket"):
        s.add_argument(x)
    s.add_argument("keys", nargs="+")
    s = sub.add_parser("mb")
    s.add_argument("dir")
    s.add_argument("bucket")
    s = sub.add_parser("cloudtrail-message")
    s.add_argument("bucket")
    s.add_argument("keys", nargs="+")
    a = p.parse_args()

    if a.cmd == "start":
        a.moto = moto_command()  # before anything else can fail
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        die("boto3/botocore not importable from %s (pip moto 5.2.1 expected)" % sys.executable)
    try:
        if a.cmd == "start":
            cmd_start(a.dir, a.moto, a.unchecked)
        elif a.cmd == "stop":
            cmd_stop(a.dir)
        elif a.cmd == "assume-role":
            cmd_assume_role(a.dir)
        elif a.cmd == "setup":
            cmd_setup(a.dir, a)
        elif a.cmd == "put":
            cmd_put(a.dir, a)
        elif a.cmd == "send":
            user_client(need_env(a.dir), "sqs").send_message(
                QueueUrl=a.queue_url, MessageBody=read_file(a.file).decode())
        elif a.cmd == "publish":
            user_client(need_env(a.dir), "sns").publish(
                TopicArn=a.topic_arn, Message=read_file(a.file).decode())
        elif a.cmd == "receive":
            cmd_receive(a.dir, a.queue_url)
        elif a.cmd == "take":
            cmd_take(a.dir, a.queue_url, a.visibility)
        elif a.cmd == "publish-keys":
            sns = user_client(need_env(a.dir), "sns")
            for k in a.keys:
                sns.publish(TopicArn=a.topic_arn, Message=json.dumps(
                    {"s3Bucket": a.bucket, "s3ObjectKey": [k]}, separators=(",", ":")))
        elif a.cmd == "mb":
            user_client(need_env(a.dir), "s3").create_bucket(Bucket=a.bucket)
        elif a.cmd == "cloudtrail-message":
            # Compact, and no newline: `cloudtrail-message ... >F` then `publish DIR ARN F`
            # sends exactly what CloudTrail would.
            sys.stdout.write(json.dumps({"s3Bucket": a.bucket, "s3ObjectKey": a.keys},
                                        separators=(",", ":")))
    except ClientError as e:
        status, code = error_code(e)
        die("%s: AWS error %s %s: %s" % (a.cmd, status, code, e))
    except (BotoCoreError, UnicodeDecodeError) as e:
        die("%s: %s" % (a.cmd, e))


if __name__ == "__main__":
    main()
