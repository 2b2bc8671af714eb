// X.509 certificates as the worker reads them (RFC 5280 §4.1): DER decoding is @oslojs/asn1's,
// this file maps the few fields the chain check needs; signatures are verified by WebCrypto.

import { ASN1Class, ASN1UniversalType, encodeASN1, parseASN1, parseASN1NoLeftoverBytes, type ASN1Value } from '@oslojs/asn1';
import { buf, equalBytes, fromUtf8, toHex } from '../../protocol/bytes.ts';
import { derToP1363 } from './sign.ts';

/** What the worker reads from a certificate; byte fields are exact slices of `der`'s encoding. */
export interface Certificate {
  readonly der: Uint8Array;
  /** Hex of the serial, without the sign byte DER puts in front of a set top bit. */
  readonly serialNumber: string;
  /** RFC 4514-style text ("CN=x, O=y"), for messages; compare names with `issuerDer`/`subjectDer`. */
  readonly issuer: string;
  readonly subject: string;
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  /** The first CN of the subject. */
  readonly commonName: string | undefined;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo, DER. */
  readonly spki: Uint8Array;
  /** basicConstraints cA is TRUE. */
  readonly isCa: boolean;
  readonly tbs: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
}

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const CURVES: Record<string, { namedCurve: string; size: number }> = {
  '1.2.840.10045.3.1.7': { namedCurve: 'P-256', size: 32 },
  '1.3.132.0.34': { namedCurve: 'P-384', size: 48 },
  '1.3.132.0.35': { namedCurve: 'P-521', size: 66 },
};
const ECDSA_HASHES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
};
const NAME_KEYS: Record<string, string> = {
  '2.5.4.3': 'CN', '2.5.4.6': 'C', '2.5.4.7': 'L', '2.5.4.8': 'ST', '2.5.4.10': 'O', '2.5.4.11': 'OU',
  '2.5.4.5': 'serialNumber', '0.9.2342.19200300.100.1.25': 'DC', '1.2.840.113549.1.9.1': 'E',
};

/** Dotted text of an OBJECT IDENTIFIER (X.690 §8.19). */
export function oidText(v: ASN1Value): string {
  const bytes = v.objectIdentifier().encoded;
  const arcs: number[] = [];
  let n = 0;
  for (const b of bytes) {
    n = n * 128 + (b & 0x7f);
    if (b & 0x80) continue;
    if (arcs.length === 0) arcs.push(n < 80 ? Math.floor(n / 40) : 2, n < 80 ? n % 40 : n - 80);
    else arcs.push(n);
    n = 0;
  }
  if (arcs.length === 0 || bytes[bytes.length - 1]! & 0x80) throw new TypeError('malformed OBJECT IDENTIFIER');
  return arcs.join('.');
}

/** The exact encoding of `v` (header rebuilt over the original contents; DER headers are minimal). */
const encoded = (v: ASN1Value): Uint8Array => encodeASN1(v);

function timeOf(v: ASN1Value): Date {
  let ms: number;
  if (v.universalType() === ASN1UniversalType.UTCTime) {
    const t = v.utcTime();
    // RFC 5280 §4.1.2.5.1: YY ≥ 50 is 19YY.
    ms = Date.UTC(t.year >= 50 ? 1900 + t.year : 2000 + t.year, t.month - 1, t.date, t.hours, t.minutes, t.seconds);
  } else {
    const t = v.generalizedTime();
    ms = Date.UTC(t.year, t.month - 1, t.date, t.hours, t.minutes, t.seconds, t.milliseconds);
  }
  if (!Number.isFinite(ms)) throw new TypeError('malformed certificate time');
  return new Date(ms);
}

function attributeText(v: ASN1Value): string {
  if (v.class !== ASN1Class.Universal) return '#' + toHex(encoded(v));
  switch (v.universalType()) {
    case ASN1UniversalType.UTF8String:
    case ASN1UniversalType.PrintableString:
    case ASN1UniversalType.IA5String:
    case ASN1UniversalType.TeletexString:
    case ASN1UniversalType.VisibleString:
      return fromUtf8(v.contents());
    case ASN1UniversalType.BMPString:
      return new TextDecoder('utf-16be').decode(v.contents());
    default:
      return '#' + toHex(encoded(v));
  }
}

const escapeValue = (s: string): string => s.replace(/[,+"\\<>;=]/g, '\\$&');

function nameOf(v: ASN1Value): { text: string; cn: string | undefined } {
  let cn: string | undefined;
  const rdns = v.sequence().elements.map((rdn) =>
    rdn.set().elements.map((atv) => {
      const [type, value] = atv.sequence().elements;
      if (!type || !value) throw new TypeError('malformed name attribute');
      const oid = oidText(type);
      const text = attributeText(value);
      if (oid === '2.5.4.3' && cn === undefined) cn = text;
      return `${NAME_KEYS[oid] ?? oid}=${escapeValue(text)}`;
    }).join('+'),
  );
  return { text: rdns.join(', '), cn };
}

function isCaOf(extensions: ASN1Value | undefined): boolean {
  if (!extensions) return false;
  for (const ext of parseASN1NoLeftoverBytes(extensions.contents()).sequence().elements) {
    const fields = ext.sequence().elements;
    if (oidText(fields[0]!) !== OID_BASIC_CONSTRAINTS) continue;
    const value = fields[fields.length - 1]!.octetString().value;
    const first = parseASN1NoLeftoverBytes(value).sequence().elements[0];
    return first?.universalType() === ASN1UniversalType.Boolean && first.boolean().value;
  }
  return false;
}

/** Decodes a DER certificate; throws TypeError on anything that is not one. */
export function parseCertificate(der: Uint8Array): Certificate {
  try {
    const cert = parseASN1NoLeftoverBytes(der);
    const [tbsValue, tbsSize] = parseASN1(cert.contents());
    const [, outerAlg, signature] = cert.sequence().elements;
    if (!outerAlg || !signature) throw new TypeError('certificate fields missing');
    const fields = tbsValue.sequence().elements;
    const hasVersion = fields[0]?.class === ASN1Class.ContextSpecific && fields[0].tag === 0;
    const [serial, alg, issuer, validity, subject, spki] = fields.slice(hasVersion ? 1 : 0);
    if (!serial || !alg || !issuer || !validity || !subject || !spki) throw new TypeError('tbsCertificate fields missing');
    // RFC 5280 §4.1.1.2: the outer algorithm must equal the signed one.
    if (!equalBytes(encoded(alg), encoded(outerAlg))) throw new TypeError('signatureAlgorithm differs from tbsCertificate.signature');
    const extensions = fields.find((f) => f.class === ASN1Class.ContextSpecific && f.tag === 3);
    const [notBefore, notAfter] = validity.sequence().elements;
    if (!notBefore || !notAfter) throw new TypeError('validity fields missing');
    const issuerName = nameOf(issuer);
    const subjectName = nameOf(subject);
    serial.integer();
    const serialBytes = serial.contents();
    return {
      der,
      serialNumber: toHex(serialBytes[0] === 0 && serialBytes.length > 1 ? serialBytes.subarray(1) : serialBytes),
      issuer: issuerName.text,
      subject: subjectName.text,
      issuerDer: encoded(issuer),
      subjectDer: encoded(subject),
      commonName: subjectName.cn,
      notBefore: timeOf(notBefore),
      notAfter: timeOf(notAfter),
      spki: encoded(spki),
      isCa: isCaOf(extensions),
      tbs: cert.contents().subarray(0, tbsSize),
      signatureAlgorithm: oidText(outerAlg.sequence().elements[0]!),
      signature: signature.bitString().bytes,
    };
  } catch (err) {
    throw new TypeError('not a DER X.509 certificate', { cause: err });
  }
}

/** Curve of an EC SPKI (id-ecPublicKey with a named curve), or undefined. */
function curveOf(spki: Uint8Array): { namedCurve: string; size: number } | undefined {
  try {
    const [alg] = parseASN1NoLeftoverBytes(spki).sequence().elements;
    const [kind, params] = alg!.sequence().elements;
    if (oidText(kind!) !== OID_EC_PUBLIC_KEY) return undefined;
    return CURVES[oidText(params!)];
  } catch {
    return undefined;
  }
}

/** The certificate's public key as a WebCrypto ECDSA verify key. */
export function verifyKey(cert: Certificate): Promise<CryptoKey> {
  const curve = curveOf(cert.spki);
  if (!curve) return Promise.reject(new TypeError(`certificate "${cert.subject}" does not carry a supported ECDSA key`));
  return crypto.subtle.importKey('spki', buf(cert.spki), { name: 'ECDSA', namedCurve: curve.namedCurve }, false, ['verify']);
}

/** Whether `parent`'s key signed `child` (ECDSA with SHA-256/384/512); never throws. */
export async function signedBy(child: Certificate, parent: Certificate): Promise<boolean> {
  const hash = ECDSA_HASHES[child.signatureAlgorithm];
  const curve = curveOf(parent.spki);
  if (!hash || !curve) return false;
  try {
    const raw = derToP1363(child.signature, curve.size);
    const key = await verifyKey(parent);
    return await crypto.subtle.verify({ name: 'ECDSA', hash }, key, buf(raw), buf(child.tbs));
  } catch {
    return false;
  }
}
