/**
 * The driver conformance suite, run by the MongoDB driver on the server CRMB_TEST_MONGODB_URL
 * names. No MongoDB can be started here, so without that variable the suite is skipped the way
 * every gated file skips (`describe.skipIf`, its cases listed as skipped), and the global setup
 * prints the one line saying the MongoDB integration suite was skipped and why.
 */
import { describe } from 'vitest';
import { mongoFactory, mongoTestUrl } from './mongodb.factory.js';
import { sourceConformance } from './source.suite.js';
import { targetConformance } from './target.suite.js';

describe.skipIf(!mongoTestUrl)('MongoDB (CRMB_TEST_MONGODB_URL)', () => {
  sourceConformance(mongoFactory);
  targetConformance(mongoFactory);
});
