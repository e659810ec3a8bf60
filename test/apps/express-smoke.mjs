import express from 'express'
const app = express()
app.use(express.json())
app.get('/json', (req, res) => res.json({ hello: 'world', ip: req.ip }))
app.post('/echo', (req, res) => res.json({ got: req.body }))
app.get('/end', (req, res) => res.end())
app.get('/err', () => { throw new Error('boom') })
export default app
