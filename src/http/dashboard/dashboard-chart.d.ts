// dashboard-chart.js is a browser script, imported as text and served as it is.
declare const text: string
export default text
