// sessions.*: authenticate (token, JWT), get, revoke, getJWKS, authenticateJwt, authenticateJwtLocal —
// successes and errors, local JWT verification against the server's JWKS.
import { assert, email, rejectsLocally, rejectsWith } from "../lib.mjs";

export async function testSessionsAuthenticateByToken({ client, enroll }) {
  const { auth } = await enroll();
  const again = await client.sessions.authenticate({ session_token: auth.session_token });
  assert.equal(again.session.session_id, auth.session.session_id);
  assert.equal(again.session_token, auth.session_token);
  assert.ok(again.session_jwt);
  assert.deepEqual(again.session.roles, ["stytch_user"]);
  assert.equal(again.verdict, undefined);
  const extended = await client.sessions.authenticate({
    session_token: auth.session_token,
    session_duration_minutes: 120,
    session_custom_claims: { plan: "pro" },
  });
  assert.deepEqual(extended.session.custom_claims, { plan: "pro" });
}

export async function testSessionsAuthenticateByJwt({ client, enroll }) {
  const { auth } = await enroll();
  const byJwt = await client.sessions.authenticate({ session_jwt: auth.session_jwt });
  assert.equal(byJwt.session.session_id, auth.session.session_id);
  assert.equal(byJwt.session_token, "");
  assert.ok(byJwt.session_jwt);
}

export async function testSessionsAuthenticateErrors({ client, enroll }) {
  const { auth } = await enroll();
  await rejectsWith(client.sessions.authenticate({ session_token: "x".repeat(44) }), 404, "session_not_found");
  await rejectsWith(
    client.sessions.authenticate({ session_token: auth.session_token, session_jwt: auth.session_jwt }),
    400,
    "too_many_session_arguments",
  );
  await rejectsWith(
    client.sessions.authenticate({
      session_token: auth.session_token,
      session_custom_claims: { sub: "someone-else" },
    }),
    400,
    "reserved_claims_in_custom_claims",
  );
}

export async function testSessionsGet({ client, enroll }) {
  const { user, auth } = await enroll();
  const listed = await client.sessions.get({ user_id: user.user_id });
  assert.deepEqual(listed.sessions.map((s) => s.session_id), [auth.session.session_id]);
  const nobody = await client.users.create({ email: email() });
  assert.deepEqual((await client.sessions.get({ user_id: nobody.user_id })).sessions, []);
  await rejectsWith(
    client.sessions.get({ user_id: "user-test-00000000-0000-4000-8000-000000000000" }),
    404,
    "user_not_found",
  );
}

export async function testSessionsRevoke({ client, enroll }) {
  const { user, auth } = await enroll();
  const revoked = await client.sessions.revoke({ session_id: auth.session.session_id });
  assert.equal(revoked.status_code, 200);
  await rejectsWith(client.sessions.authenticate({ session_token: auth.session_token }), 404, "session_not_found");
  assert.deepEqual((await client.sessions.get({ user_id: user.user_id })).sessions, []);
  await rejectsWith(client.sessions.revoke({ session_id: auth.session.session_id }), 404, "session_not_found");
  await rejectsWith(client.sessions.revoke({}), 400, "no_session_revoke_arguments");
}

export async function testSessionsGetJWKS({ client, projectId }) {
  const jwks = await client.sessions.getJWKS({ project_id: projectId });
  assert.ok(jwks.keys.length >= 1);
  assert.equal(jwks.keys[0].alg, "RS256");
  assert.deepEqual(jwks.keys[0].key_ops, ["verify"]);
  await rejectsWith(client.sessions.getJWKS({ project_id: "project-test-00000000-0000-4000-8000-000000000000" }), 404);
}

export async function testSessionsAuthenticateJwtLocal({ newClient, enroll }) {
  const { user, auth } = await enroll();
  const fresh = newClient(); // fetches the JWKS itself, without credentials
  const session = await fresh.sessions.authenticateJwtLocal({ session_jwt: auth.session_jwt });
  assert.equal(session.session_id, auth.session.session_id);
  assert.equal(session.user_id, user.user_id);
  assert.deepEqual(session.roles, ["stytch_user"]);
  assert.deepEqual(session.custom_claims, {});
  const [header, payload, signature] = auth.session_jwt.split(".");
  const forged = [header, payload, signature.slice(0, -4) + (signature.endsWith("AAAA") ? "BBBB" : "AAAA")].join(".");
  await rejectsLocally(fresh.sessions.authenticateJwtLocal({ session_jwt: forged }));
  await rejectsLocally(fresh.sessions.authenticateJwtLocal({ session_jwt: auth.session_jwt, max_token_age_seconds: 0 }));
}

export async function testSessionsAuthenticateJwt({ client, enroll }) {
  const { auth } = await enroll();
  const local = await client.sessions.authenticateJwt({ session_jwt: auth.session_jwt });
  assert.equal(local.session.session_id, auth.session.session_id);
  assert.equal(local.session_jwt, auth.session_jwt); // verified locally: the same JWT back
  const remote = await client.sessions.authenticateJwt({ session_jwt: auth.session_jwt, max_token_age_seconds: 0 });
  assert.equal(remote.session.session_id, auth.session.session_id); // forced through the server
  await client.sessions.revoke({ session_jwt: auth.session_jwt });
  await rejectsWith(
    client.sessions.authenticateJwt({ session_jwt: auth.session_jwt, max_token_age_seconds: 0 }),
    404,
    "session_not_found",
  );
}

export async function testWrongSecretIs401({ newClient }) {
  const wrong = newClient({ secret: "secret-test-wrong" });
  await rejectsWith(wrong.users.search({}), 401, "unauthorized_credentials");
  await rejectsWith(wrong.rbac.policy(), 401, "unauthorized_credentials");
}
