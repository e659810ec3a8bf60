// An app whose module blocks its event loop for ever while it loads.
for (;;);
