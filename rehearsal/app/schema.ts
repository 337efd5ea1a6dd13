// The Mastodon-shaped tables the rehearsal app writes to: accounts, follows and
// statuses, with the columns and indexes that matter for a migration (bigserial
// ids so a stale sequence on the target shows up as a failed insert, foreign keys,
// Mastodon's (account_id, id DESC) index behind home feeds).

/** Schema the app uses: `public` for the generated sample, a side schema when the user's own data owns `public`. */
export const SAMPLE_SCHEMA = "public";
export const SIDE_SCHEMA = "ferry_rehearsal";

export function quoteSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  return schema === "public" ? "public" : `"${schema}"`;
}

/** Tables with primary keys only: secondary indexes and foreign keys come after the bulk load. */
export function createTablesSql(schema: string): string {
  const s = quoteSchema(schema);
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE ${s}.accounts (
  id bigserial PRIMARY KEY,
  username text NOT NULL,
  domain text,
  display_name text NOT NULL DEFAULT '',
  note text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ${s}.follows (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL,
  target_account_id bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE ${s}.statuses (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL,
  text text NOT NULL,
  in_reply_to_id bigint,
  visibility integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);`;
}

/** Indexes and constraints, built once over the loaded rows. */
export function createIndexesSql(schema: string): string {
  const s = quoteSchema(schema);
  return `
CREATE UNIQUE INDEX index_accounts_on_username_and_domain ON ${s}.accounts (lower(username), COALESCE(lower(domain), ''));
CREATE UNIQUE INDEX index_follows_on_account_id_and_target_account_id ON ${s}.follows (account_id, target_account_id);
CREATE INDEX index_follows_on_target_account_id ON ${s}.follows (target_account_id);
CREATE INDEX index_statuses_20190820 ON ${s}.statuses (account_id, id DESC);
ALTER TABLE ${s}.follows ADD CONSTRAINT fk_follows_account FOREIGN KEY (account_id) REFERENCES ${s}.accounts (id) ON DELETE CASCADE;
ALTER TABLE ${s}.follows ADD CONSTRAINT fk_follows_target FOREIGN KEY (target_account_id) REFERENCES ${s}.accounts (id) ON DELETE CASCADE;
ALTER TABLE ${s}.statuses ADD CONSTRAINT fk_statuses_account FOREIGN KEY (account_id) REFERENCES ${s}.accounts (id) ON DELETE CASCADE;`;
}
