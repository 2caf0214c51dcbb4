# The IIS FHIR server. Runs TypeScript through tsx (no build step), as `npm start` does.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json capability-statement.json ./
COPY profiles ./profiles
COPY src ./src
COPY scripts ./scripts
# The clinic web app (web/) is built into static files served at /app.
COPY web ./web
RUN npx tsx scripts/build-web.ts && rm -rf web/src
RUN mkdir -p /data && chown node:node /data
USER node
ENV PORT=8080 DATA_DIR=/data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# --no-allocation-site-pretenuring, --initial-old-space-size=256: as `npm start` (README "Embedded
# store on LMDB", session 6 lead; src/hl7v2/README.md "Session 11 (tail)")
CMD ["node", "--no-allocation-site-pretenuring", "--initial-old-space-size=256", "--import", "tsx", "src/server.ts"]
