// The whole auth-service flow from a client: register, log in, /me, refresh, log out, then
// change the password and reset it.
//
// Node 18 or newer (global fetch), no packages:
//
//     ISSUER_URL=http://localhost:8000 node examples/client.mjs
//
// Settings (environment): ISSUER_URL (http://localhost:8000), EMAIL (a fresh
// example-<random>@example.com), PASSWORD (Correct-Horse-9).
//
// The reset token reaches the user only by email (the mailer reads it from the
// `user.password_reset_requested` event): after asking for a reset, the script reads the token
// from one line on stdin, and skips the last steps if there is none. The changed password is
// PASSWORD + "-changed", the reset one PASSWORD + "-reset".
//
// Each step prints one line. Any unexpected status prints the error envelope and exits 1.
// The issuer must run with REQUIRE_VERIFIED_EMAIL=false (the default): with it on, login
// answers 403 EMAIL_NOT_VERIFIED until the address is verified.

import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";

if (typeof fetch !== "function") {
  console.error(`Node 18 or newer is needed (global fetch); this is ${process.version}`);
  process.exit(1);
}

const ISSUER_URL = (process.env.ISSUER_URL || "http://localhost:8000").replace(/\/+$/, "");
const API = `${ISSUER_URL}/api/v1/auth`;

class UnexpectedReply extends Error {}

// The first line on stdin, trimmed; empty at end of input.
async function readLine() {
  const lines = createInterface({ input: process.stdin });
  try {
    for await (const line of lines) return line.trim();
    return "";
  } finally {
    lines.close();
  }
}

// Sends one request; returns { status, body } with the parsed JSON envelope.
async function call(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(API + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { raw: text };
  }
  return { status: response.status, body: parsed };
}

// Throws unless the reply has this status (and, for errors, this error code).
function expect(step, reply, status, code) {
  const gotCode = reply.body?.error?.code;
  if (reply.status !== status || (code !== undefined && gotCode !== code)) {
    const wanted = code ? `${status} ${code}` : `${status}`;
    throw new UnexpectedReply(
      `${step}: expected ${wanted}, got ${reply.status}: ${JSON.stringify(reply.body)}`,
    );
  }
  return reply.body.data ?? {};
}

async function main() {
  const email = process.env.EMAIL || `example-${randomUUID().replaceAll("-", "").slice(0, 12)}@example.com`;
  const password = process.env.PASSWORD || "Correct-Horse-9";
  console.log(`issuer: ${ISSUER_URL}`);

  let data = expect(
    "register",
    await call("POST", "/register", {
      body: { email, password, password_confirmation: password },
    }),
    201,
  );
  console.log(`register: 201 user_id=${data.user_id} email=${data.email}`);

  data = expect("login", await call("POST", "/login", { body: { email, password } }), 200);
  let access = data.access_token;
  let refresh = data.refresh_token;
  console.log(`login: 200 token_type=${data.token_type} expires_in=${data.expires_in}`);

  data = expect("me", await call("GET", "/me", { token: access }), 200);
  console.log(`me: 200 email=${data.email} is_email_verified=${data.is_email_verified}`);

  data = expect("refresh", await call("POST", "/refresh", { body: { refresh_token: refresh } }), 200);
  access = data.access_token;
  // Under REFRESH_TOKEN_ROTATION=true a new refresh token comes back: keep the newest.
  refresh = data.refresh_token ?? refresh;
  console.log(`refresh: 200 expires_in=${data.expires_in}`);

  data = expect("logout", await call("POST", "/logout", { body: { refresh_token: refresh } }), 200);
  console.log(`logout: 200 ${data.message}`);

  // The session is revoked: its refresh token and access tokens no longer pass.
  expect(
    "refresh after logout",
    await call("POST", "/refresh", { body: { refresh_token: refresh } }),
    401,
    "INVALID_TOKEN",
  );
  console.log("refresh after logout: 401 INVALID_TOKEN");
  expect("me after logout", await call("GET", "/me", { token: access }), 401, "INVALID_TOKEN");
  console.log("me after logout: 401 INVALID_TOKEN");

  // Password change: needs a live session and the current password; every other session of
  // the user is revoked, this one stays.
  data = expect("login again", await call("POST", "/login", { body: { email, password } }), 200);
  access = data.access_token;
  console.log("login again: 200");
  const changed = `${password}-changed`;
  data = expect(
    "password change",
    await call("POST", "/password/change", {
      body: { current_password: password, password: changed, password_confirmation: changed },
      token: access,
    }),
    200,
  );
  console.log(`password change: 200 ${data.message}`);
  expect(
    "login with the changed password",
    await call("POST", "/login", { body: { email, password: changed } }),
    200,
  );
  console.log("login with the changed password: 200");

  // Password reset: the answer is the same whether or not the account exists; the token
  // arrives by email.
  data = expect(
    "password reset request",
    await call("POST", "/password-reset/request", { body: { email } }),
    202,
  );
  console.log(`password reset request: 202 ${data.message}`);
  console.error("paste the reset token from the email (empty to stop here):");
  const token = await readLine();
  if (!token) {
    console.log("password reset confirm: skipped, no token");
    return;
  }
  const reset = `${password}-reset`;
  data = expect(
    "password reset confirm",
    await call("POST", "/password-reset/confirm", {
      body: { token, password: reset, password_confirmation: reset },
    }),
    200,
  );
  console.log(`password reset confirm: 200 user_id=${data.user_id}`);
  // Every session was revoked; the new password logs in.
  expect("me after the reset", await call("GET", "/me", { token: access }), 401, "INVALID_TOKEN");
  expect(
    "login with the reset password",
    await call("POST", "/login", { body: { email, password: reset } }),
    200,
  );
  console.log("login with the reset password: 200");
  console.log("flow complete");
}

try {
  await main();
} catch (error) {
  if (error instanceof UnexpectedReply) {
    console.error(error.message);
  } else {
    console.error(`cannot reach the issuer at ${ISSUER_URL}: ${error.cause?.message ?? error.message}`);
  }
  process.exit(1);
}
