/** Realistic-looking CRM text: names (some non-ASCII), companies, emails, notes of varied length. */
import type { Prng } from './prng.js';

const FIRST = ['Anna', 'Ben', 'Chloé', 'David', 'Emma', 'François', 'Greta', 'Hiroshi', 'Ines', 'Jakub', 'Katarzyna', 'Liam',
  'María', 'Noah', 'Olga', 'Pedro', 'Quentin', 'Renée', 'Søren', 'Tomás', 'Uma', 'Vikram', 'Wei', 'Xavier', 'Yuki', 'Zoë',
  'Łukasz', 'Ömer', 'Ana', 'Björn'] as const;
const LAST = ['Smith', 'Müller', 'García', 'Rossi', 'Nowak', 'Kowalski', 'Dubois', 'Jensen', 'Novák', 'Yılmaz', 'Tanaka',
  'Kim', 'Nguyen', 'Silva', 'Andersson', "O'Brien", 'van der Berg', 'Schröder', 'Ivanova', 'Papadopoulos', '李', 'Gonzalez',
  'Brown', 'Martin', 'Lefèvre', 'Horváth'] as const;
const COMPANY_A = ['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Vandelay', 'Stark', 'Wayne', 'Nordwind', 'Blåbær',
  'Zenith', 'Orbital', 'Pinnacle', 'Crédit', 'Sakura', 'Atlas'] as const;
const COMPANY_B = ['Industries', 'Systems', 'Logistics', 'Labs', 'GmbH', 'S.A.', 'Holdings', 'Software', 'Partners', 'AG',
  'Foods', 'Energy', 'Analytics', 'Retail'] as const;
export const INDUSTRIES = ['software', 'manufacturing', 'retail', 'finance', 'healthcare', 'logistics', 'energy', 'education'] as const;
export const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'ES', 'IT', 'PL', 'SE', 'JP', 'BR', 'IN', 'TR'] as const;
const TITLES = ['CEO', 'CTO', 'Head of Sales', 'Procurement Manager', 'IT Director', 'Office Manager', 'VP Marketing', 'Buyer'] as const;
const WORDS = ('the customer asked about pricing for the enterprise plan and wants a follow up next week ' +
  'discussed integration with their ERP system legal review of the contract is pending budget approved for Q3 ' +
  'demo went well they liked reporting dashboards concerns about data residency in the EU renewal risk champion ' +
  'left the company new stakeholder introduced requested references from similar customers shipping delays ' +
  'invoice disputed discount of ten percent agreed security questionnaire sent back signed NDA onboarding call ' +
  'Übergabe geplant réunion confirmée próxima semana 見積もり送付済み migration from legacy CRM 🚀 ✅').split(' ');

export function firstName(r: Prng): string {
  return r.pick(FIRST);
}
export function lastName(r: Prng): string {
  return r.pick(LAST);
}
export function company(r: Prng, id: number): string {
  return `${r.pick(COMPANY_A)} ${r.pick(COMPANY_B)} ${id}`;
}
export function title(r: Prng): string {
  return r.pick(TITLES);
}
/** ASCII email derived from the name, unique by `id`. */
export function email(first: string, last: string, id: number, domain: string): string {
  const local = `${first}.${last}`.normalize('NFKD').replace(/[^A-Za-z.]/g, '').toLowerCase();
  return `${local || 'user'}.${id}@${domain}`;
}
export function domainOf(name: string): string {
  return `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}.example.com`;
}

/** `n` words of free text. */
export function words(r: Prng, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(r.pick(WORDS));
  return out.join(' ');
}

/**
 * A note body: mostly short, some medium, ~3% long (6-24 KB) so PostgreSQL stores them
 * out of line in TOAST even after compression.
 */
export function noteBody(r: Prng): string {
  const roll = r.next();
  if (roll < 0.03) {
    const paragraphs: string[] = [];
    const target = r.int(6_000, 24_000);
    let len = 0;
    while (len < target) {
      const p = `${words(r, r.int(40, 120))}. Ref ${r.int(100000, 999999)}-${r.int(1000, 9999)}.`;
      paragraphs.push(p);
      len += p.length + 2;
    }
    return paragraphs.join('\n\n');
  }
  if (roll < 0.25) return words(r, r.int(60, 200));
  return words(r, r.int(5, 40));
}
