// The `shc:/` QR form of a health card (SMART Health Cards "Encoding QRs"): every JWS character c
// becomes the two digits of (c - 45), after the prefix `shc:/`. The QR holds two segments, the
// prefix in byte mode and the digits in numeric mode, at error correction L. A JWS of at most 1,195
// characters fits one version-22 QR, the largest the spec allows; longer cards are not put in a QR.
import QRCode, { type QRCodeSegment } from 'qrcode';

export const MAX_SINGLE_QR_JWS = 1195;

export function toNumeric(jws: string): string {
  let digits = '';
  for (let i = 0; i < jws.length; i++) digits += String(jws.charCodeAt(i) - 45).padStart(2, '0');
  return `shc:/${digits}`;
}

export function fromNumeric(shc: string): string {
  const digits = shc.replace(/^shc:\//, '');
  let jws = '';
  for (let i = 0; i + 1 < digits.length; i += 2) jws += String.fromCharCode(Number(digits.slice(i, i + 2)) + 45);
  return jws;
}

function segments(jws: string): QRCodeSegment[] {
  return [
    { data: Buffer.from('shc:/', 'latin1'), mode: 'byte' },
    { data: toNumeric(jws).slice('shc:/'.length), mode: 'numeric' },
  ];
}

/** A PNG of the card's QR code. */
export function qrPng(jws: string): Promise<Buffer> {
  return QRCode.toBuffer(segments(jws), { errorCorrectionLevel: 'L', type: 'png', margin: 4, scale: 4 });
}

/** The same QR code as SVG. */
export function qrSvg(jws: string): Promise<string> {
  return QRCode.toString(segments(jws), { errorCorrectionLevel: 'L', type: 'svg', margin: 4 });
}
