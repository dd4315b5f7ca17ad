import VAECommandLine

// `vae-dist`: the commands live in VAECommandLine (so a test build can run the same commands with its fault
// injection installed); this executable only starts them.
VAEDist.main()
