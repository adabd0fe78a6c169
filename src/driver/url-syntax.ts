/**
 * How a database's URLs read. Each driver folder has a small, dependency-free `url.ts` exporting
 * one of these; the registry loads it even for a driver that is not built yet, so its URLs get a
 * default source name and a redacted form without the driver. The core never parses a database
 * URL itself: a MongoDB seed list or a MySQL socket URL is not a WHATWG URL.
 */

export interface UrlDescription {
  /**
   * The default `--name` of a source at this URL: where the data lives, never who reads it
   * (no user, no password, no options), e.g. `db.internal:5432/crm`.
   */
  readonly defaultName: string;
  /** The URL for messages and manifests: no password, no query options, no fragment. */
  readonly redacted: string;
}

export interface UrlSyntax {
  /**
   * Reads `url`, whose scheme is one of the driver's. A URL it cannot read is refused with a
   * UsageError: one sentence naming what is wrong and the expected form, never the password.
   */
  describeUrl(url: string): UrlDescription;
}
