/**
 * The driver conformance suite, run by the MongoDB driver on the server CRMB_TEST_MONGODB_URL
 * names. Without it nothing runs: the global setup has printed the one line saying the MongoDB
 * integration suite was skipped and why.
 */
import { describe, it } from 'vitest';
import { mongoFactory, mongoTestUrl } from './mongodb.factory.js';
import { sourceConformance } from './source.suite.js';
import { targetConformance } from './target.suite.js';

if (mongoTestUrl) {
  sourceConformance(mongoFactory);
  targetConformance(mongoFactory);
} else {
  describe.skip('MongoDB driver conformance (CRMB_TEST_MONGODB_URL is not set)', () => {
    it('needs a MongoDB replica set', () => {});
  });
}
