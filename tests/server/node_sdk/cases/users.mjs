// users.*: create, get, search, searchAll, update, delete, deleteTOTP — successes and errors.
import { assert, email, rejectsWith } from "../lib.mjs";

export async function testUsersCreateGetDelete({ client }) {
  const address = email();
  const created = await client.users.create({
    email: address,
    name: { first_name: "Ada", last_name: "Lovelace" },
    roles: ["editor"],
    trusted_metadata: { tier: 3 },
  });
  assert.equal(created.status_code, 200);
  assert.match(created.user_id, /^user-test-/);
  assert.match(created.email_id, /^email-test-/);
  assert.equal(created.phone_id, "");
  assert.deepEqual(created.user.roles, ["stytch_user", "editor"]);

  const got = await client.users.get({ user_id: created.user_id });
  assert.equal(got.emails[0].email, address);
  assert.equal(got.name.first_name, "Ada");
  assert.deepEqual(got.trusted_metadata, { tier: 3 });
  assert.deepEqual(got.totps, []);
  assert.equal(got.is_locked, false);

  const deleted = await client.users.delete({ user_id: created.user_id });
  assert.equal(deleted.user_id, created.user_id);
  await rejectsWith(client.users.get({ user_id: created.user_id }), 404, "user_not_found");
  await rejectsWith(client.users.delete({ user_id: created.user_id }), 404, "user_not_found");
}

export async function testUsersCreateErrors({ client }) {
  const address = email();
  await client.users.create({ email: address });
  await rejectsWith(client.users.create({ email: address }), 400, "duplicate_email");
  await rejectsWith(client.users.create({ email: "not an email" }), 400, "invalid_email");
  await rejectsWith(client.users.create({ name: { first_name: "Nobody" } }), 400);
}

export async function testUsersGetErrors({ client }) {
  await rejectsWith(
    client.users.get({ user_id: "user-test-00000000-0000-4000-8000-000000000000" }),
    404,
    "user_not_found",
  );
}

export async function testUsersUpdate({ client }) {
  const created = await client.users.create({ email: email() });
  const updated = await client.users.update({
    user_id: created.user_id,
    name: { first_name: "Grace" },
    untrusted_metadata: { theme: "dark" },
    roles: ["auditor"],
  });
  assert.equal(updated.user.name.first_name, "Grace");
  assert.deepEqual(updated.user.untrusted_metadata, { theme: "dark" });
  assert.deepEqual(updated.user.roles, ["stytch_user", "auditor"]);
  await rejectsWith(
    client.users.update({ user_id: "user-test-00000000-0000-4000-8000-000000000000", name: { first_name: "X" } }),
    404,
    "user_not_found",
  );
}

export async function testUsersSearch({ client }) {
  const address = email("search");
  const created = await client.users.create({ email: address });
  const query = { operator: "AND", operands: [{ filter_name: "email_address", filter_value: [address] }] };
  const found = await client.users.search({ limit: 10, query });
  assert.deepEqual(found.results.map((u) => u.user_id), [created.user_id]);
  assert.equal(found.results_metadata.total, 1);
  assert.ok(!found.results_metadata.next_cursor);
  await rejectsWith(
    client.users.search({ query: { operator: "AND", operands: [{ filter_name: "no_such_filter", filter_value: "x" }] } }),
    400,
    "user_search_filter_name_not_recognized",
  );
  await rejectsWith(client.users.search({ limit: 1001 }), 400, "user_search_invalid_limit");
}

export async function testUsersSearchAll({ client }) {
  const domain = `all-${Date.now()}.example.com`;
  const ids = [];
  for (let i = 0; i < 5; i += 1) {
    ids.push((await client.users.create({ email: `u${i}@${domain}` })).user_id);
  }
  const query = { operator: "AND", operands: [{ filter_name: "email_address_fuzzy", filter_value: domain }] };
  const iterator = client.users.searchAll({ limit: 2, query });
  const seen = [];
  let pages = 0;
  for await (const page of iterator) {
    pages += 1;
    seen.push(...page.map((u) => u.user_id));
  }
  assert.equal(pages, 3);
  assert.deepEqual([...seen].sort(), [...ids].sort());
}

export async function testUsersDeleteTOTP({ client, enroll }) {
  const { user, totp } = await enroll();
  const deleted = await client.users.deleteTOTP({ totp_id: totp.totp_id });
  assert.equal(deleted.user_id, user.user_id);
  assert.deepEqual(deleted.user.totps, []);
  await rejectsWith(client.users.deleteTOTP({ totp_id: totp.totp_id }), 404, "totp_not_found");
}
