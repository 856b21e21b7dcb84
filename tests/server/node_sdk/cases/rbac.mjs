// rbac.policy and authorization checks: the server's verdict (sessions.authenticate), the SDK's local
// evaluator (authenticateJwtLocal over the policy it fetches and the roles in the JWT) and authenticateJwt,
// which falls back to the server when the local check fails. The driver sets policy.yaml first.
import { assert, rejectsLocally, rejectsWith } from "../lib.mjs";

const check = (resource_id, action) => ({ resource_id, action });

export async function testRbacPolicy({ newClient }) {
  const { policy } = await newClient().rbac.policy();
  assert.deepEqual(policy.roles.map((r) => r.role_id), ["stytch_user", "editor", "admin", "auditor"]);
  assert.deepEqual(policy.resources[0], {
    resource_id: "documents",
    description: "Shared documents",
    actions: ["read", "write", "delete"],
  });
  assert.deepEqual(policy.roles[2].permissions[0], { resource_id: "documents", actions: ["*"] });
  assert.equal(policy.scopes[0].scope, "read:docs");
}

export async function testRbacPolicyWrongSecret({ newClient }) {
  const wrong = newClient({ secret: "secret-test-wrong-0000000000000000000" });
  await rejectsWith(wrong.rbac.policy(), 401, "unauthorized_credentials");
}

export async function testAuthorizationAllowed({ client, newClient, enroll }) {
  const { auth } = await enroll({ roles: ["editor"] });
  const remote = await client.sessions.authenticate({
    session_token: auth.session_token,
    authorization_check: check("documents", "write"),
  });
  assert.deepEqual(remote.verdict, { authorized: true, granting_roles: ["editor"] });
  const fresh = newClient();
  const local = await fresh.sessions.authenticateJwtLocal({
    session_jwt: auth.session_jwt,
    authorization_check: check("documents", "write"),
  });
  assert.deepEqual(local.roles, ["stytch_user", "editor"]);
  const viaJwt = await fresh.sessions.authenticateJwt({
    session_jwt: auth.session_jwt,
    authorization_check: check("documents", "read"),
  });
  assert.equal(viaJwt.session_jwt, auth.session_jwt); // allowed locally
}

async function denied({ client, newClient, enroll }, resource, action) {
  const { auth } = await enroll({ roles: ["editor"] });
  await rejectsWith(
    client.sessions.authenticate({ session_token: auth.session_token, authorization_check: check(resource, action) }),
    403,
    "consumer_session_authorization_error",
  );
  const fresh = newClient();
  await rejectsLocally(
    fresh.sessions.authenticateJwtLocal({ session_jwt: auth.session_jwt, authorization_check: check(resource, action) }),
    "invalid_permissions",
  );
  // authenticateJwt falls back to the server after any local failure: the server's 403 reaches the app.
  await rejectsWith(
    fresh.sessions.authenticateJwt({ session_jwt: auth.session_jwt, authorization_check: check(resource, action) }),
    403,
    "consumer_session_authorization_error",
  );
  // The session was not revoked.
  assert.ok((await client.sessions.authenticate({ session_token: auth.session_token })).session);
}

export async function testAuthorizationDenied(ctx) {
  await denied(ctx, "documents", "delete");
}

export async function testAuthorizationUnknownResource(ctx) {
  await denied(ctx, "invoices", "read");
}

export async function testAuthorizationUnknownAction(ctx) {
  await denied(ctx, "documents", "purge");
}

export async function testRoleAddedByUpdateAfterNextAuthenticate({ client, newClient, enroll }) {
  const { user, auth } = await enroll();
  const fresh = newClient();
  await rejectsLocally(
    fresh.sessions.authenticateJwtLocal({ session_jwt: auth.session_jwt, authorization_check: check("reports", "view") }),
    "invalid_permissions",
  );
  const updated = await client.users.update({ user_id: user.user_id, roles: ["auditor"] });
  assert.deepEqual(updated.user.roles, ["stytch_user", "auditor"]);
  // The JWT minted before the update still carries the roles of its authentication.
  await rejectsLocally(
    fresh.sessions.authenticateJwtLocal({ session_jwt: auth.session_jwt, authorization_check: check("reports", "view") }),
    "invalid_permissions",
  );
  const next = await client.sessions.authenticate({
    session_token: auth.session_token,
    authorization_check: check("reports", "view"),
  });
  assert.deepEqual(next.verdict.granting_roles, ["auditor"]);
  const local = await fresh.sessions.authenticateJwtLocal({
    session_jwt: next.session_jwt,
    authorization_check: check("reports", "view"),
  });
  assert.deepEqual(local.roles, ["stytch_user", "auditor"]);
}

export async function testPolicyChangedByRbacSet({ client, newClient, enroll, rbacSet }) {
  const plain = await enroll();
  const auditor = await enroll({ roles: ["auditor"] });
  await newClient().sessions.authenticateJwtLocal({
    session_jwt: plain.auth.session_jwt,
    authorization_check: check("documents", "read"),
  });
  await rbacSet("policy_changed.yaml");
  try {
    const fresh = newClient(); // the SDK caches the policy for 5 minutes: a new client reads the new one
    await rejectsLocally(
      fresh.sessions.authenticateJwtLocal({ session_jwt: plain.auth.session_jwt, authorization_check: check("documents", "read") }),
      "invalid_permissions",
    );
    await rejectsWith(
      client.sessions.authenticate({ session_token: plain.auth.session_token, authorization_check: check("documents", "read") }),
      403,
      "consumer_session_authorization_error",
    );
    await fresh.sessions.authenticateJwtLocal({
      session_jwt: auditor.auth.session_jwt,
      authorization_check: check("documents", "read"),
    });
    const remote = await client.sessions.authenticate({
      session_token: auditor.auth.session_token,
      authorization_check: check("documents", "read"),
    });
    assert.deepEqual(remote.verdict.granting_roles, ["auditor"]);
  } finally {
    await rbacSet("policy.yaml");
  }
}
