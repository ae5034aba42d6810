// /v2/images/{id}/file: upload (streamed into the shared ingest pipeline) and
// download (streamed from the first location that answers).

import type { FastifyInstance } from 'fastify';
import { FileSlice } from '../data/fileSlice.js';
import { header, imageDataBody, route } from '../http/route.js';
import { sendFileSlice } from '../http/sendFileSlice.js';
import type { Services } from './services.js';

type IdParams = { image_id: string };

export function imageDataRoutes(app: FastifyInstance, s: Services): void {
  route(app, '/images/:image_id/file', {
    PUT: async (req, reply) => {
      const { image_id } = req.params as IdParams;
      const { body, declaredSize, signal } = imageDataBody(req);
      await s.imageData.upload(req.ctx, image_id, body, { declaredSize, storeId: header(req, 'x-image-meta-store'), signal });
      return reply.code(204).send();
    },
    GET: {
      noBody: true,
      handler: async (req, reply) => {
        const { image_id } = req.params as IdParams;
        const abort = new AbortController();
        reply.raw.once('close', () => abort.abort());
        const data = await s.imageData.download(
          req.ctx,
          image_id,
          { range: req.headers.range, contentRange: req.headers['content-range'] as string | undefined },
          abort.signal,
        );
        if (!data) return reply.code(204).send();
        reply.header('Content-Type', 'application/octet-stream').header('Content-Length', String(data.length));
        if (data.checksum) reply.header('Content-MD5', data.checksum);
        if (data.range) reply.code(206).header('Content-Range', `bytes ${data.range.offset}-${data.range.last}/${data.size}`);
        // bytes in a local file (file store, image cache) go out through reused buffers
        if (data.stream instanceof FileSlice) {
          await sendFileSlice(req, reply, data.stream, abort.signal);
          return reply;
        }
        return reply.send(data.stream);
      },
    },
  });
}
