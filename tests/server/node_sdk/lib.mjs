// Shared helpers of the Node SDK cases: the official `stytch` package (installed by .ci/run into the folder
// named by TOTPFLOW_NODE_SDK), a client for the server under test, RFC 6238 codes computed with node:crypto
// as an authenticator app would, error assertions, and the operator's `totpflow rbac set`.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export { assert };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const POLICIES = path.resolve(HERE, "..", "data", "rbac");

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (the pytest driver sets it)`);
  return value;
}

export const stytch = createRequire(path.join(need("TOTPFLOW_NODE_SDK"), "package.json"))("stytch");

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function base32Decode(text) {
  let bits = 0;
  let value = 0;
  const out = [];
  for (const char of text.replace(/=+$/, "").toUpperCase()) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error("not base32");
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
      value &= (1 << bits) - 1;
    }
  }
  return Buffer.from(out);
}

/** The RFC 6238 code (HMAC-SHA-1, 6 digits, 30 s steps) of a base32 secret, `offset` steps from now. */
export function totpCode(secret, offset = 0) {
  const counter = Math.floor(Date.now() / 1000 / 30) + offset;
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac("sha1", base32Decode(secret)).update(message).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const number = ((mac[at] & 0x7f) << 24) | (mac[at + 1] << 16) | (mac[at + 2] << 8) | mac[at + 3];
  return String(number % 1_000_000).padStart(6, "0");
}

/** A well-formed code that matches none of the steps the server accepts (now ±1). */
export function wrongCode(secret) {
  const valid = new Set([-1, 0, 1].map((k) => totpCode(secret, k)));
  for (let n = 0; ; n += 1) {
    const code = String(n).padStart(6, "0");
    if (!valid.has(code)) return code;
  }
}

export function email(prefix = "node") {
  return `${prefix}-${randomUUID().slice(0, 12)}@example.com`;
}

/** Await `promise`, which must reject with the SDK's StytchError of this status and error_type. */
export async function rejectsWith(promise, status, errorType) {
  let error;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  assert.ok(error, `expected ${status} ${errorType}, but the call succeeded`);
  assert.ok(error instanceof stytch.StytchError, `expected a StytchError, got ${error?.stack ?? error}`);
  assert.equal(error.status_code, status, error.message);
  if (errorType !== undefined) assert.equal(error.error_type, errorType, error.message);
  assert.ok(error.request_id && error.error_message && error.error_url, error.message);
  return error;
}

/** Await `promise`, which must reject with a ClientError (an error of the SDK's local checks). */
export async function rejectsLocally(promise, code) {
  let error;
  try {
    await promise;
  } catch (caught) {
    error = caught;
  }
  assert.ok(error, `expected a local ${code ?? "error"}, but the call succeeded`);
  assert.ok(!(error instanceof stytch.StytchError), `expected a local error, got a server error: ${error.message}`);
  if (code !== undefined) assert.equal(error.code, code, error.stack);
  return error;
}

/** What every case gets: the server, clients for it, and operator commands against its database. */
export function context() {
  const baseUrl = need("TOTPFLOW_TEST_BASE_URL");
  const projectId = need("TOTPFLOW_TEST_PROJECT_ID");
  const secret = need("TOTPFLOW_TEST_SECRET");
  const newClient = (overrides = {}) =>
    // `env` takes any base URL, plain HTTP included (`custom_base_url` insists on HTTPS).
    new stytch.Client({ project_id: projectId, secret, env: `${baseUrl}/`, ...overrides });
  const client = newClient();
  return {
    baseUrl,
    projectId,
    secret,
    client,
    newClient,
    /** `totpflow rbac set` with a policy file of tests/server/data/rbac, against the server's database. Run
     * without blocking the event loop, so the SDK's kept-alive connections see the server close them. */
    async rbacSet(name) {
      await promisify(execFile)(
        need("TOTPFLOW_TEST_PYTHON"),
        ["-m", "totpflow", "rbac", "set", path.join(POLICIES, name), "--database-url",
          need("TOTPFLOW_TEST_DATABASE_URL_OF_SERVER"), "--project-id", projectId],
      );
    },
    /** A new user with a TOTP and a 60-minute session: {user, totp, auth}. */
    async enroll(extra = {}) {
      const user = await client.users.create({ email: email(), ...extra });
      const totp = await client.totps.create({ user_id: user.user_id });
      const auth = await client.totps.authenticate({
        user_id: user.user_id,
        totp_code: totpCode(totp.secret),
        session_duration_minutes: 60,
      });
      return { user, totp, auth };
    },
  };
}
