// The Heroku Platform API (v3) objects ferry reads and writes: only the fields we use
// or show, named as the API names them (so a JSON body maps straight onto them).

export interface NamedRef {
  id: string;
  name: string;
}

export interface HerokuApp {
  id: string;
  name: string;
  maintenance: boolean;
  web_url: string | null;
  region?: NamedRef;
  created_at: string;
  updated_at: string;
}

/** GET /apps/{app}/config-vars: name -> value. */
export type ConfigVars = Record<string, string>;

/** PATCH /apps/{app}/config-vars: a string sets a var, null deletes it. */
export type ConfigVarsPatch = Record<string, string | null>;

export interface Formation {
  id: string;
  type: string;
  quantity: number;
  size: string;
  command: string;
  app: NamedRef;
  created_at: string;
  updated_at: string;
}

/** One entry of PATCH /apps/{app}/formation {"updates": [...]}. */
export interface FormationUpdate {
  type: string;
  quantity?: number;
  size?: string;
}

export interface Addon {
  id: string;
  name: string;
  addon_service: NamedRef;
  plan: NamedRef;
  state: "provisioning" | "provisioned" | "deprovisioned";
  app: NamedRef;
  /** Config var names this add-on sets on the app (e.g. DATABASE_URL). */
  config_vars: string[];
  web_url: string | null;
  /** What the add-on bills (https://devcenter.heroku.com/articles/platform-api-reference#add-on): null or absent on older answers. */
  billed_price?: Price | null;
}

/** A price as the Platform API gives it: cents per unit ("month"). */
export interface Price {
  cents: number;
  unit: string;
  contract?: boolean;
  metered?: boolean;
}

/** GET /addon-services/{service}/plans/{plan} (https://devcenter.heroku.com/articles/platform-api-reference#plan). */
export interface Plan {
  id: string;
  name: string;
  price: Price;
}

/** GET /dyno-sizes (https://devcenter.heroku.com/articles/platform-api-reference#dyno-size); cost is null where Heroku prices elsewhere (eco's pool). */
export interface DynoSize {
  id: string;
  name: string;
  memory: number;
  compute: number;
  dedicated: boolean;
  cost: { cents: number; unit: string } | null;
}

/** GET /apps/{app}/log-drains (https://devcenter.heroku.com/articles/platform-api-reference#log-drain): the URL may carry credentials. */
export interface LogDrain {
  id: string;
  url: string;
  token: string;
  addon: NamedRef | null;
  created_at: string;
  updated_at: string;
}

/** An add-on attached to an app under a name: the app gets NAME_URL (e.g. DATABASE -> DATABASE_URL). */
export interface AddonAttachment {
  id: string;
  name: string;
  addon: NamedRef & { app: NamedRef };
  app: NamedRef;
}

export interface Domain {
  id: string;
  hostname: string;
  kind: "heroku" | "custom";
  /** DNS target for a custom domain (null for the herokuapp.com domain). */
  cname: string | null;
  status: string;
  app: NamedRef;
  created_at: string;
  updated_at: string;
}

/** The body of every Heroku API error. */
export interface HerokuErrorBody {
  id: string;
  message: string;
  url?: string;
}

// ---- releases and slugs (Platform API reference: "Release", "Slug") -----------------

/** GET /apps/{app}/releases (https://devcenter.heroku.com/articles/platform-api-reference#release). */
export interface Release {
  id: string;
  version: number;
  description: string;
  /** A release whose release phase is running is "pending"; one whose release phase failed, "failed". */
  status: "succeeded" | "pending" | "failed" | "expired";
  /** Whether this is the release the app runs now. */
  current: boolean;
  /** Null for releases without code (e.g. the first config change before any deploy). */
  slug: { id: string } | null;
  app: NamedRef;
  created_at: string;
  updated_at: string;
}

/** GET /apps/{app}/slugs/{slug} (https://devcenter.heroku.com/articles/platform-api-reference#slug). */
export interface Slug {
  id: string;
  /** Where to GET the slug: a signed, time-limited URL (send no Heroku credentials to it). */
  blob: { method: string; url: string };
  /** "SHA256:<hex>" of the slug file. */
  checksum: string | null;
  commit: string | null;
  commit_description: string | null;
  /** Process type -> command, from the Procfile (or the buildpack's defaults). */
  process_types: Record<string, string>;
  size: number | null;
  stack: NamedRef;
  buildpack_provided_description: string | null;
  created_at: string;
  updated_at: string;
}
