"""Test-side view of the emulator, through boto3 (installed with moto): sets up buckets and
reads back what layerpub did. Answers in JSON.

    aws.py ENDPOINT COMMAND [ARGS...]   one command; the region is us-east-1 unless
                                        AWS_TEST_REGION says otherwise
    aws.py ENDPOINT --serve             one command per line on stdin, as JSON
                                        {"region": ..., "args": [COMMAND, ARGS...]}; one answer
                                        per line on stdout, {"ok": ...} or {"error": traceback}

The tests use --serve (tests/common/moto.rs): importing boto3 and loading its service models
takes about a second, once per helper instead of once per question."""
import base64
import hashlib
import io
import json
import os
import sys
import traceback
import zipfile

import boto3
from botocore.config import Config

endpoint = sys.argv[1]
_clients = {}


def client(service, region):
    """One client per service and region, made on first use and kept."""
    key = (service, region)
    if key not in _clients:
        extra = {"config": Config(s3={"addressing_style": "path"})} if service == "s3" else {}
        _clients[key] = boto3.client(service, endpoint_url=endpoint, region_name=region,
                                     aws_access_key_id="testing", aws_secret_access_key="testing",
                                     **extra)
    return _clients[key]


def tiny_zip():
    """A one-file zip, the same bytes every time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(zipfile.ZipInfo("handler.py", (1980, 1, 1, 0, 0, 0)), "def main(e, c): return 1\n")
    return buf.getvalue()


def small_zip(name, text):
    """A zip holding one file: enough for a layer version or a function's code."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()


def function_role(region):
    """An execution role for create_function: moto checks that it exists, nothing more."""
    iam = client("iam", region)
    try:
        return iam.get_role(RoleName="layerpub-test-function")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        return iam.create_role(RoleName="layerpub-test-function",
                               AssumeRolePolicyDocument="{}")["Role"]["Arn"]


def call(region, command, args):
    """One command against the emulator in `region`; returns what it prints as JSON."""
    s3 = client("s3", region)
    lam = client("lambda", region)
    if command == "create-bucket":
        region = s3.meta.region_name
        if region == "us-east-1":
            s3.create_bucket(Bucket=args[0])
        else:
            s3.create_bucket(Bucket=args[0],
                             CreateBucketConfiguration={"LocationConstraint": region})
        out = {}
    elif command == "versions":
        out = [{"version": v["Version"], "description": v.get("Description", ""),
                "arn": v["LayerVersionArn"]}
               for v in lam.list_layer_versions(LayerName=args[0])["LayerVersions"]]
    elif command == "code-sha256":
        out = lam.get_layer_version(LayerName=args[0], VersionNumber=int(args[1]))["Content"]["CodeSha256"]
    elif command == "keys":
        out = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=args[0]).get("Contents", []))
    elif command == "uploads":
        out = [u["Key"] for u in s3.list_multipart_uploads(Bucket=args[0]).get("Uploads", [])]
    elif command == "state":
        # state LAYER BUCKET: what a run leaves behind, in one call (tests/faults.rs runs many).
        versions = [v["Version"] for v in lam.list_layer_versions(LayerName=args[0])["LayerVersions"]]
        out = {"versions": versions,
               "newest_code_sha256": versions and lam.get_layer_version(
                   LayerName=args[0], VersionNumber=max(versions))["Content"]["CodeSha256"] or None,
               "keys": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=args[1]).get("Contents", [])),
               "uploads": [u["Key"] for u in s3.list_multipart_uploads(Bucket=args[1]).get("Uploads", [])]}
    elif command == "get":
        out = s3.get_object(Bucket=args[0], Key=args[1])["Body"].read().decode()
    elif command == "put":
        s3.put_object(Bucket=args[0], Key=args[1], Body=args[2].encode())
        out = {}
    elif command == "checksum":
        h = s3.head_object(Bucket=args[0], Key=args[1], ChecksumMode="ENABLED")
        out = h.get("ChecksumSHA256")
    elif command == "publish-foreign":
        zip_bytes = open(args[1], "rb").read()
        out = lam.publish_layer_version(LayerName=args[0], Description="uploaded by hand",
                                        Content={"ZipFile": zip_bytes})["Version"]
    elif command == "publish-layer":
        # A tiny layer version to roll functions onto; prints its LayerVersionArn.
        out = lam.publish_layer_version(LayerName=args[0], Content={"ZipFile": tiny_zip()})["LayerVersionArn"]
    elif command == "create-function":
        # create-function NAME [LAYER_VERSION_ARN...]: moto needs an IAM role, not Docker.
        iam = client("iam", region)
        try:
            role = iam.get_role(RoleName="layerpub-test")["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            role = iam.create_role(RoleName="layerpub-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        out = lam.create_function(FunctionName=args[0], Runtime="python3.12", Role=role,
                                  Handler="handler.main", Code={"ZipFile": tiny_zip()},
                                  Layers=args[1:])["FunctionArn"]
    elif command == "function-layers":
        # function-layers NAME [QUALIFIER]: the Layers of $LATEST or of a published version.
        q = {"Qualifier": args[1]} if len(args) > 1 else {}
        out = [l["Arn"] for l in lam.get_function_configuration(FunctionName=args[0], **q).get("Layers", [])]
    elif command == "function-versions":
        # The published versions (not $LATEST), oldest first, with their layers.
        out = [{"version": v["Version"], "arn": v["FunctionArn"],
                "layers": [l["Arn"] for l in v.get("Layers", [])]}
               for v in lam.list_versions_by_function(FunctionName=args[0])["Versions"]
               if v["Version"] != "$LATEST"]
    elif command == "alias":
        # alias FUNCTION NAME: {"version", "arn"}, or null when there is no such alias.
        try:
            a = lam.get_alias(FunctionName=args[0], Name=args[1])
            out = {"version": a["FunctionVersion"], "arn": a["AliasArn"]}
        except lam.exceptions.ResourceNotFoundException:
            out = None
    elif command == "publish-zip":
        out = lam.publish_layer_version(LayerName=args[0], Description="test version",
                                        Content={"ZipFile": small_zip("python/m.py", "x = 1\n")})["Version"]
    elif command == "policy":
        # The version's policy document, or null when it has none.
        try:
            out = json.loads(lam.get_layer_version_policy(LayerName=args[0],
                                                          VersionNumber=int(args[1]))["Policy"])
        except lam.exceptions.ResourceNotFoundException:
            out = None
    elif command == "add-permission":
        # A grant made by hand (or by a concurrent run): LAYER VERSION SID PRINCIPAL
        lam.add_layer_version_permission(LayerName=args[0], VersionNumber=int(args[1]), StatementId=args[2],
                                         Action="lambda:GetLayerVersion", Principal=args[3])
        out = {}
    elif command == "create-published-function":
        # NAME LAYER_VERSION_ARN...: published as version 1, so it shows in FunctionVersion=ALL.
        out = lam.create_function(FunctionName=args[0], Runtime="python3.12", Role=function_role(region),
                                  Handler="app.handler", Code={"ZipFile": small_zip("app.py", "def handler(e, c): pass\n")},
                                  Layers=args[1:], Publish=True)["FunctionArn"]
    elif command == "set-function-layers":
        # NAME LAYER_VERSION_ARN...: changes $LATEST only; published versions keep their layers.
        out = lam.update_function_configuration(FunctionName=args[0], Layers=args[1:])["FunctionArn"]
    elif command == "writes":
        # Every trace a run can leave, in one call (REGION...): the layers of each region with
        # their versions, and every bucket's objects and unfinished multipart uploads.
        out = {"layers": {}, "buckets": {}}
        for region in args or ["us-east-1"]:
            regional = client("lambda", region)
            for layer in regional.list_layers()["Layers"]:
                name = layer["LayerName"]
                out["layers"][f"{region}/{name}"] = [
                    v["Version"] for v in regional.list_layer_versions(LayerName=name)["LayerVersions"]]
        for b in s3.list_buckets()["Buckets"]:
            name = b["Name"]
            out["buckets"][name] = {
                "keys": sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])),
                "uploads": [u["Key"] for u in s3.list_multipart_uploads(Bucket=name).get("Uploads", [])],
            }
    else:
        raise ValueError(f"unknown command {command}")
    return out


if sys.argv[2:] == ["--serve"]:
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": call(request["region"], request["args"][0], request["args"][1:])}
        except Exception:  # the test that asked reports it
            answer = {"error": traceback.format_exc()}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
else:
    print(json.dumps(call(os.environ.get("AWS_TEST_REGION", "us-east-1"), sys.argv[2], sys.argv[3:])))
