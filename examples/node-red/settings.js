// Node-RED settings for running the example flow headless (tests, demos):
//   node-red --userDir DIR --settings examples/node-red/settings.js DIR/flows.json
module.exports = {
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.NODE_RED_PORT || 1880),
    credentialSecret: false,
    editorTheme: { tours: false },
    logging: { console: { level: "info", metrics: false, audit: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
};
