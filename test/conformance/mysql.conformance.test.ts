/** The driver conformance suite, run by the MySQL/MariaDB driver on a MariaDB of its own. */
import { afterAll } from 'vitest';
import { mysqlFactory, stopMysqlConformanceServer } from './mysql.factory.js';
import { sourceConformance } from './source.suite.js';
import { targetConformance } from './target.suite.js';

sourceConformance(mysqlFactory);
targetConformance(mysqlFactory);

afterAll(() => stopMysqlConformanceServer());
