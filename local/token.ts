import { parseArgs } from 'node:util';
import { ID_PATTERN } from '../functions/http/schemas.js';
import { localJwtSecret, localUserScope, signDevToken } from './dev-auth.js';

/**
 * `npm run token -- <user> [--admin]`: prints a token the local server accepts, signed with the same
 * secret `npm start` uses (ROAMING_JWT_SECRET, else the one kept in the data folder: run it with the
 * same ROAMING_DATA_DIR and working directory as npm start).
 */
const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { admin: { type: 'boolean', default: false }, expires: { type: 'string', default: '24h' } },
});
const user = positionals[0];
if (!user || !ID_PATTERN.test(user)) {
  console.error(
    'usage: npm run token -- <user> [--admin] [--expires 24h]   (user: 1-128 of A-Z a-z 0-9 _ . @ : | + = -; expires: at most 30d)',
  );
  process.exit(2);
}
try {
  console.log(
    await signDevToken(user, {
      admin: values.admin,
      secret: localJwtSecret().secret,
      userScope: localUserScope(),
      expiresIn: values.expires,
    }),
  );
} catch (error) {
  // jose's own message for a span it cannot read, or ours for one the server would refuse.
  console.error(`--expires: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(2);
}
