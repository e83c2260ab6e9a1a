/**
 * Node's own HTTP/2 client, wrapped for tests: connect to a TLS listener trusting the test CA,
 * send one request on a session and collect status, headers, body and trailers.
 */
import { once } from 'node:events';
import {
  type ClientHttp2Session,
  connect,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
  type OutgoingHttpHeaders,
} from 'node:http2';

/** What one HTTP/2 request came back with. */
export interface H2Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders & IncomingHttpStatusHeader;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders | undefined;
}

/**
 * An HTTP/2 session to `127.0.0.1:port` over TLS, asking for `servername`, trusting `ca`.
 *
 * @example
 * const session = await h2Session(proxy.port, ca.pem, 'api.test');
 * const response = await h2Request(session, { ':path': '/' });
 */
export async function h2Session(
  port: number,
  ca: string,
  servername = 'api.test',
): Promise<ClientHttp2Session> {
  const session = connect(`https://${servername}:${port}`, {
    ca,
    servername,
    host: '127.0.0.1',
    lookup: (_name, _options, callback) => callback(null, '127.0.0.1', 4),
  });
  session.on('error', () => {});
  await once(session, 'remoteSettings');
  return session;
}

/** Sends one request; `body` is written in one go when given. */
export async function h2Request(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer | string,
): Promise<H2Response> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  let trailers: IncomingHttpHeaders | undefined;
  stream.on('trailers', (received: IncomingHttpHeaders) => {
    trailers = received;
  });
  const [responseHeaders] = (await once(stream, 'response')) as [
    IncomingHttpHeaders & IncomingHttpStatusHeader,
  ];
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return {
    status: Number(responseHeaders[':status']),
    headers: responseHeaders,
    body: Buffer.concat(chunks),
    trailers,
  };
}
