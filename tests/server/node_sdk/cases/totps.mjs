// totps.*: create, authenticate, recoveryCodes, recover — successes and errors.
import { assert, email, rejectsWith, totpCode, wrongCode } from "../lib.mjs";

export async function testTotpsCreate({ client }) {
  const user = await client.users.create({ email: email() });
  const totp = await client.totps.create({ user_id: user.user_id, expiration_minutes: 10 });
  assert.match(totp.totp_id, /^totp-test-/);
  assert.equal(totp.secret.length, 32);
  assert.ok(totp.qr_code.startsWith("data:image/png;base64, "));
  assert.equal(totp.recovery_codes.length, 10);
  assert.equal(totp.user.totps[0].verified, false);
  await rejectsWith(client.totps.create({ user_id: user.user_id }), 400, "active_totp_exists");
  await rejectsWith(
    client.totps.create({ user_id: "user-test-00000000-0000-4000-8000-000000000000" }),
    404,
    "user_not_found",
  );
}

export async function testTotpsAuthenticate({ client }) {
  const user = await client.users.create({ email: email() });
  const totp = await client.totps.create({ user_id: user.user_id });
  await rejectsWith(
    client.totps.authenticate({ user_id: user.user_id, totp_code: wrongCode(totp.secret) }),
    401,
    "unable_to_authenticate_totp",
  );
  await rejectsWith(client.totps.authenticate({ user_id: user.user_id, totp_code: "12ab" }), 400, "invalid_totp_code");
  const code = totpCode(totp.secret);
  const auth = await client.totps.authenticate({
    user_id: user.user_id,
    totp_code: code,
    session_duration_minutes: 60,
    session_custom_claims: { team: "blue" },
  });
  assert.equal(auth.totp_id, totp.totp_id);
  assert.equal(auth.session_token.length, 44);
  assert.equal(auth.session.authentication_factors[0].authenticator_app_factor.totp_id, totp.totp_id);
  assert.deepEqual(auth.session.custom_claims, { team: "blue" });
  assert.equal(auth.user.totps[0].verified, true);
  await rejectsWith(
    client.totps.authenticate({ user_id: user.user_id, totp_code: code }),
    400,
    "totp_code_already_authenticated",
  );
}

export async function testTotpsAuthenticateWithoutSession({ client }) {
  const user = await client.users.create({ email: email() });
  const totp = await client.totps.create({ user_id: user.user_id });
  const auth = await client.totps.authenticate({ user_id: user.user_id, totp_code: totpCode(totp.secret) });
  assert.equal(auth.session, null);
  assert.equal(auth.session_token, "");
  assert.equal(auth.session_jwt, "");
}

export async function testTotpsLockAfterFailures({ client }) {
  // The driver runs the server with a lock threshold of 3.
  const user = await client.users.create({ email: email() });
  const totp = await client.totps.create({ user_id: user.user_id });
  for (let i = 0; i < 3; i += 1) {
    await rejectsWith(client.totps.authenticate({ user_id: user.user_id, totp_code: wrongCode(totp.secret) }), 401);
  }
  await rejectsWith(
    client.totps.authenticate({ user_id: user.user_id, totp_code: totpCode(totp.secret) }),
    429,
    "user_lock_limit_reached",
  );
  assert.equal((await client.users.get({ user_id: user.user_id })).is_locked, true);
}

export async function testTotpsRecoveryCodes({ client }) {
  const user = await client.users.create({ email: email() });
  const totp = await client.totps.create({ user_id: user.user_id });
  const codes = await client.totps.recoveryCodes({ user_id: user.user_id });
  assert.equal(codes.user_id, user.user_id);
  assert.equal(codes.totps[0].totp_id, totp.totp_id);
  assert.deepEqual([...codes.totps[0].recovery_codes].sort(), [...totp.recovery_codes].sort());
  const other = await client.users.create({ email: email() });
  await rejectsWith(client.totps.recoveryCodes({ user_id: other.user_id }), 404, "totp_not_found");
}

export async function testTotpsRecover({ client }) {
  const user = await client.users.create({ email: email() });
  const totp = await client.totps.create({ user_id: user.user_id });
  await client.totps.authenticate({ user_id: user.user_id, totp_code: totpCode(totp.secret) });
  const code = totp.recovery_codes[0];
  const recovered = await client.totps.recover({ user_id: user.user_id, recovery_code: code, session_duration_minutes: 30 });
  const factor = recovered.session.authentication_factors[0];
  assert.equal(factor.type, "recovery_codes");
  assert.ok(factor.recovery_code_factor.totp_recovery_code_id);
  await rejectsWith(
    client.totps.recover({ user_id: user.user_id, recovery_code: code }),
    401,
    "unable_to_authenticate_recovery_code",
  );
  await rejectsWith(client.totps.recover({ user_id: user.user_id, recovery_code: "nope" }), 400);
}
