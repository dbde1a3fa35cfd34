import { defineConfig } from "vite";

// `npm run dev` proxies the RPCs to a local `cashflow serve` (scripts/run), so the app and its
// grpc-web calls stay on one origin as they are when the service serves the build.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: { target: "es2022", sourcemap: false },
  server: {
    proxy: {
      "^/(cashflow\\.v1|grpc)\\.": { target: "http://127.0.0.1:50051", changeOrigin: false },
    },
  },
});
