#!/usr/bin/env python3
"""The whole auth-service flow from a client: register, log in, /me, refresh, log out, then
change the password and reset it.

Standard library only (urllib), so it runs with any python3:

    ISSUER_URL=http://localhost:8000 python3 examples/client.py

Settings (environment): ISSUER_URL (http://localhost:8000), EMAIL (a fresh
example-<random>@example.com), PASSWORD (Correct-Horse-9).

The reset token reaches the user only by email (the mailer reads it from the
`user.password_reset_requested` event): after asking for a reset, the script reads the token
from one line on stdin, and skips the last steps if there is none. The changed password is
PASSWORD + "-changed", the reset one PASSWORD + "-reset".

Each step prints one line. Any unexpected status prints the error envelope and exits 1.
The issuer must run with REQUIRE_VERIFIED_EMAIL=false (the default): with it on, login
answers 403 EMAIL_NOT_VERIFIED until the address is verified.
"""

import json
import os
import sys
import urllib.error
import urllib.request
import uuid

ISSUER_URL = os.environ.get("ISSUER_URL", "http://localhost:8000").rstrip("/")
API = ISSUER_URL + "/api/v1/auth"


def call(method, path, body=None, token=None):
    """Sends one request; returns (status, parsed JSON body)."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = "Bearer " + token
    request = urllib.request.Request(API + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        # 4xx and 5xx still carry the JSON envelope.
        raw = error.read()
        try:
            return error.code, json.loads(raw)
        except ValueError:
            return error.code, {"raw": raw.decode("utf-8", "replace")}


def expect(step, reply, status, code=None):
    """Exits 1 unless the reply has this status (and, for errors, this error code)."""
    got, body = reply
    got_code = (body.get("error") or {}).get("code")
    if got != status or (code is not None and got_code != code):
        wanted = f"{status} {code}" if code else str(status)
        print(f"{step}: expected {wanted}, got {got}: {json.dumps(body)}", file=sys.stderr)
        sys.exit(1)
    return body.get("data") or {}


def main():
    email = os.environ.get("EMAIL") or f"example-{uuid.uuid4().hex[:12]}@example.com"
    password = os.environ.get("PASSWORD", "Correct-Horse-9")
    print(f"issuer: {ISSUER_URL}")

    data = expect("register", call("POST", "/register", {
        "email": email, "password": password, "password_confirmation": password,
    }), 201)
    print(f"register: 201 user_id={data['user_id']} email={data['email']}")

    data = expect("login", call("POST", "/login", {"email": email, "password": password}), 200)
    access, refresh = data["access_token"], data["refresh_token"]
    print(f"login: 200 token_type={data['token_type']} expires_in={data['expires_in']}")

    data = expect("me", call("GET", "/me", token=access), 200)
    print(f"me: 200 email={data['email']} is_email_verified={str(data['is_email_verified']).lower()}")

    data = expect("refresh", call("POST", "/refresh", {"refresh_token": refresh}), 200)
    access = data["access_token"]
    # Under REFRESH_TOKEN_ROTATION=true a new refresh token comes back: keep the newest.
    refresh = data.get("refresh_token", refresh)
    print(f"refresh: 200 expires_in={data['expires_in']}")

    data = expect("logout", call("POST", "/logout", {"refresh_token": refresh}), 200)
    print(f"logout: 200 {data['message']}")

    # The session is revoked: its refresh token and access tokens no longer pass.
    expect("refresh after logout",
           call("POST", "/refresh", {"refresh_token": refresh}), 401, "INVALID_TOKEN")
    print("refresh after logout: 401 INVALID_TOKEN")
    expect("me after logout", call("GET", "/me", token=access), 401, "INVALID_TOKEN")
    print("me after logout: 401 INVALID_TOKEN")

    # Password change: needs a live session and the current password; every other session
    # of the user is revoked, this one stays.
    data = expect("login again", call("POST", "/login", {"email": email, "password": password}), 200)
    access = data["access_token"]
    print("login again: 200")
    changed = password + "-changed"
    data = expect("password change", call("POST", "/password/change", {
        "current_password": password, "password": changed, "password_confirmation": changed,
    }, token=access), 200)
    print(f"password change: 200 {data['message']}")
    expect("login with the changed password",
           call("POST", "/login", {"email": email, "password": changed}), 200)
    print("login with the changed password: 200")

    # Password reset: the answer is the same whether or not the account exists; the token
    # arrives by email.
    data = expect("password reset request",
                  call("POST", "/password-reset/request", {"email": email}), 202)
    print(f"password reset request: 202 {data['message']}", flush=True)
    print("paste the reset token from the email (empty to stop here):", file=sys.stderr, flush=True)
    token = sys.stdin.readline().strip()
    if not token:
        print("password reset confirm: skipped, no token")
        return
    reset = password + "-reset"
    data = expect("password reset confirm", call("POST", "/password-reset/confirm", {
        "token": token, "password": reset, "password_confirmation": reset,
    }), 200)
    print(f"password reset confirm: 200 user_id={data['user_id']}")
    # Every session was revoked; the new password logs in.
    expect("me after the reset", call("GET", "/me", token=access), 401, "INVALID_TOKEN")
    expect("login with the reset password",
           call("POST", "/login", {"email": email, "password": reset}), 200)
    print("login with the reset password: 200")
    print("flow complete")


if __name__ == "__main__":
    try:
        main()
    except urllib.error.URLError as error:
        print(f"cannot reach the issuer at {ISSUER_URL}: {error.reason}", file=sys.stderr)
        sys.exit(1)
