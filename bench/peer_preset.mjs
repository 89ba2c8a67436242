// PostGraphile 5's preset for `python -m bench --only peer` (bench/peer.py copies this file beside
// its npm install, outside git, and runs `postgraphile -C peer_preset.mjs`). Production as
// the docs describe it: the Amber preset, no GraphiQL, no watch, no explain. Reads only: the
// bench database's public schema (skus, stock_levels, locations and the computed columns
// bench/peer.py adds) without mutations. One Node process, a pool of PG_POOL_MAX connections
// (the bench's DB_POOL_MAX_SIZE, the size our server gets), on 127.0.0.1 only.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.PG_POOL_MAX ?? "8") },
    }),
  ],
  schema: {
    // reads only: no create/update/delete mutations
    defaultBehavior: "-insert -update -delete",
  },
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT ?? "5678"),
    graphiql: false,
    watch: false,
  },
  grafast: {
    explain: false,
  },
};

export default preset;
