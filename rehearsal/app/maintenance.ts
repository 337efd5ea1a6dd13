// Heroku's router answers 503 for an app in maintenance mode. The rehearsal's
// stand-in for a dyno asks the (fake) Platform API for the app's maintenance flag,
// a few times a second, so `ferry heroku maintenance on` takes effect the way it
// does on Heroku: within moments, without a restart.
export interface MaintenanceFlag {
  on(): boolean;
  stop(): void;
}

export function watchMaintenance(heroku: { apiUrl: string; apiKey: string; app: string }, intervalMs = 200): MaintenanceFlag {
  let maintenance = false;
  let stopped = false;
  const poll = async () => {
    try {
      const res = await fetch(`${heroku.apiUrl.replace(/\/$/, "")}/apps/${encodeURIComponent(heroku.app)}`, {
        headers: { Accept: "application/vnd.heroku+json; version=3", Authorization: `Bearer ${heroku.apiKey}` },
        signal: AbortSignal.timeout(1000),
      });
      if (res.ok) maintenance = Boolean(((await res.json()) as { maintenance?: boolean }).maintenance);
    } catch {
      // the API being unreachable leaves the last known state, like the router does
    }
    if (!stopped) timer = setTimeout(poll, intervalMs);
  };
  let timer = setTimeout(poll, 0);
  return {
    on: () => maintenance,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
