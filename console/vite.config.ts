import { defineConfig } from "vite"

// Served by the requestor under /console (requestor/src/console/http.ts); everything bundled,
// no request leaves the origin.
export default defineConfig({
  base: "/console/",
  build: { outDir: "dist", emptyOutDir: true, assetsInlineLimit: 0, chunkSizeWarningLimit: 200 },
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/console/processor": "http://127.0.0.1:8000",
      "/metrics": "http://127.0.0.1:8000",
    },
  },
})
