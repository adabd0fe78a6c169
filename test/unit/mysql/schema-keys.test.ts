/** Which secondary keys a MySQL/MariaDB restore builds after the load, and the CREATE TABLE left. */
import { describe, expect, it } from 'vitest';
import { splitSecondaryKeys } from '../../../drivers/mysql/internal/schema-keys.js';

const TABLE = [
  'CREATE TABLE `deals` (',
  '  `id` int(11) NOT NULL AUTO_INCREMENT,',
  '  `contact_id` int(11) DEFAULT NULL,',
  "  `note` varchar(20) DEFAULT 'a, b',",
  '  PRIMARY KEY (`id`),',
  '  UNIQUE KEY `note_u` (`note`),',
  '  KEY `by_note` (`note`(10)),',
  '  KEY `deal_contact` (`contact_id`),',
  '  KEY `by_both` (`note`,`id`),',
  '  FULLTEXT KEY `ft` (`note`),',
  '  CONSTRAINT `deal_contact` FOREIGN KEY (`contact_id`) REFERENCES `contacts` (`id`)',
  ') ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4',
].join('\n');

describe('splitSecondaryKeys', () => {
  it('defers the plain keys after the last one a foreign key may need, keeping key order', () => {
    const split = splitSecondaryKeys(TABLE);
    expect(split.keys).toEqual(['KEY `by_both` (`note`,`id`)']);
    expect(split.create).toBe(TABLE.replace('  KEY `by_both` (`note`,`id`),\n', ''));
  });

  it('defers every plain key of a table without foreign keys, and fixes the commas', () => {
    const create = [
      'CREATE TABLE `t` (',
      '  `a` int NOT NULL,',
      '  `b` int,',
      '  PRIMARY KEY (`a`),',
      '  KEY `b` (`b`),',
      '  KEY `ab` (`a`,`b`)',
      ') ENGINE=InnoDB',
      ' PARTITION BY HASH (`a`)',
      'PARTITIONS 2',
    ].join('\n');
    const split = splitSecondaryKeys(create);
    expect(split.keys).toEqual(['KEY `b` (`b`)', 'KEY `ab` (`a`,`b`)']);
    expect(split.create).toBe(
      [
        'CREATE TABLE `t` (',
        '  `a` int NOT NULL,',
        '  `b` int,',
        '  PRIMARY KEY (`a`)',
        ') ENGINE=InnoDB',
        ' PARTITION BY HASH (`a`)',
        'PARTITIONS 2',
      ].join('\n'),
    );
  });

  it('leaves a statement it cannot read line by line as it is', () => {
    const odd = 'CREATE TABLE `t` (`a` int, KEY `a` (`a`)) ENGINE=InnoDB';
    expect(splitSecondaryKeys(odd)).toEqual({ create: odd, keys: [] });
  });
});
