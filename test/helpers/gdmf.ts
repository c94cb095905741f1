import { createServer, type Server } from 'node:http';

/**
 * A stand-in for Apple's software lookup service (`https://gdmf.apple.com/v2/pmv`): serves the
 * document it is given, in Apple's shape (`PublicAssetSets.macOS` / `.iOS` lists of
 * `{ProductVersion, Build, PostingDate, ExpirationDate, SupportedDevices}`).
 */
export async function startFakeGdmf(doc: Record<string, unknown>): Promise<{
  url: string;
  requests: number;
  close(): Promise<void>;
}> {
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    state.requests++;
    if (req.url !== '/v2/pmv') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}/v2/pmv`,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Apple's document with a few macOS and iOS releases (values shaped like the real feed). */
export const gdmfDocument = {
  PublicAssetSets: {
    macOS: [
      {
        ProductVersion: '15.2',
        Build: '24C101',
        PostingDate: '2024-12-11',
        ExpirationDate: '2025-03-17',
        SupportedDevices: ['Mac15,3', 'J314sAP', 'Mac14,2'],
      },
      {
        ProductVersion: '15.1.1',
        Build: '24B91',
        PostingDate: '2024-11-19',
        ExpirationDate: '2025-02-24',
        SupportedDevices: ['Mac15,3', 'J314sAP'],
      },
      {
        ProductVersion: '14.7.2',
        Build: '23H311',
        PostingDate: '2024-12-11',
        ExpirationDate: '2025-03-17',
        SupportedDevices: ['Mac15,3', 'Mac13,1'],
      },
    ],
    iOS: [
      {
        ProductVersion: '18.2',
        Build: '22C152',
        PostingDate: '2024-12-11',
        ExpirationDate: '2025-03-17',
        SupportedDevices: ['iPhone15,2', 'iPad13,1'],
      },
    ],
  },
  AssetSets: {},
};
