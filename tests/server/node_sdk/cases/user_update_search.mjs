// users.update and users.search beyond the basics: Stytch's update response shape, metadata merge and limits,
// external ids, every family of search filter (including those on data the server never holds), limit 0,
// and the user_search_* error types.
import { assert, email, rejectsWith } from "../lib.mjs";

export async function testUpdateShapeMergeAndExternalId({ client }) {
  const address = email("update");
  const created = await client.users.create({ email: address, trusted_metadata: { plan: "free", seats: 1 } });
  assert.deepEqual(created.user.name, { first_name: "", middle_name: "", last_name: "" });
  assert.equal(created.user.external_id, "");
  const external = `node-${created.user_id.slice(-12)}`;
  const updated = await client.users.update({
    user_id: created.user_id,
    name: { first_name: "Ada", last_name: "Lovelace" },
    trusted_metadata: { plan: "pro", seats: null },
    external_id: external,
  });
  assert.equal(updated.user_id, created.user_id);
  assert.deepEqual(updated.emails.map((e) => e.email), [address]);
  assert.deepEqual(updated.phone_numbers, []);
  assert.deepEqual(updated.crypto_wallets, []);
  assert.deepEqual(updated.user.name, { first_name: "Ada", middle_name: "", last_name: "Lovelace" });
  assert.deepEqual(updated.user.trusted_metadata, { plan: "pro" });
  assert.equal(updated.user.external_id, external);
  const byExternal = await client.users.update({ user_id: external, name: { middle_name: "B" } });
  assert.equal(byExternal.user.name.first_name, "Ada");
  assert.equal(byExternal.user.name.middle_name, "B");
}

export async function testUpdateErrors({ client }) {
  const taken = `taken-${Date.now()}`;
  await client.users.create({ email: email("taken"), external_id: taken });
  const user = await client.users.create({ email: email("update-errors") });
  await rejectsWith(client.users.update({ user_id: user.user_id, external_id: taken }), 400, "duplicate_user_external_id");
  const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i]));
  await rejectsWith(client.users.update({ user_id: user.user_id, untrusted_metadata: many }), 400, "metadata_too_many_keys");
  await rejectsWith(
    client.users.update({ user_id: user.user_id, trusted_metadata: { big: "x".repeat(4100) } }),
    400,
    "metadata_too_large",
  );
  const error = await rejectsWith(client.users.update({ user_id: "not a user id!" }), 400, "invalid_user_id");
  assert.equal(error.error_url, "https://stytch.com/docs/api/errors/400#invalid_user_id");
}

export async function testSearchFilterFamilies({ client, enroll }) {
  const { user, totp } = await enroll({ name: { first_name: "Grace", last_name: "Hopper" } });
  const mine = { filter_name: "user_id", filter_value: [user.user_id] };
  const cases = [
    [{ filter_name: "email_id", filter_value: [user.email_id] }, true],
    [{ filter_name: "totp_id", filter_value: [totp.totp_id] }, true],
    [{ filter_name: "totp_verified", filter_value: true }, true],
    [{ filter_name: "full_name_fuzzy", filter_value: "grace hop" }, true],
    [{ filter_name: "status", filter_value: "active" }, true],
    [{ filter_name: "password_exists", filter_value: false }, true],
    [{ filter_name: "created_at_greater_than", filter_value: "2020-01-01T00:00:00Z" }, true],
    [{ filter_name: "oauth_provider", filter_value: ["google"] }, false],
    [{ filter_name: "webauthn_registration_verified", filter_value: true }, false],
    [{ filter_name: "crypto_wallet_address", filter_value: ["0xabc"] }, false],
    [{ filter_name: "phone_verified", filter_value: true }, false],
  ];
  for (const [operand, found] of cases) {
    const page = await client.users.search({ limit: 0, query: { operator: "AND", operands: [mine, operand] } });
    assert.deepEqual(page.results.map((u) => u.user_id), found ? [user.user_id] : [], JSON.stringify(operand));
    assert.equal(page.results_metadata.total, found ? 1 : 0);
    assert.equal(page.results_metadata.next_cursor, null);
  }
}

export async function testSearchErrors({ client }) {
  const query = (operand) => ({ query: { operator: "AND", operands: [operand] } });
  await rejectsWith(client.users.search({ limit: 1001 }), 400, "user_search_invalid_limit");
  await rejectsWith(client.users.search({ cursor: "garbage!" }), 400, "user_search_invalid_cursor");
  await rejectsWith(client.users.search({ query: { operator: "XOR", operands: [] } }), 400, "user_search_invalid_operator");
  await rejectsWith(
    client.users.search(query({ filter_name: "roles", filter_value: ["x"] })),
    400,
    "user_search_filter_name_not_recognized",
  );
  await rejectsWith(
    client.users.search(query({ filter_name: "email_verified", filter_value: "yes" })),
    400,
    "user_search_expected_bool",
  );
  await rejectsWith(
    client.users.search(query({ filter_name: "email_address", filter_value: "a@b.example" })),
    400,
    "user_search_expected_array_of_string",
  );
}
