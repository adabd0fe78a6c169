/** The driver conformance suite, run by the PostgreSQL driver. */
import { postgresFactory } from './postgres.factory.js';
import { sourceConformance } from './source.suite.js';
import { targetConformance } from './target.suite.js';

sourceConformance(postgresFactory);
targetConformance(postgresFactory);
