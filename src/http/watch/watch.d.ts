// watch.js is a browser module, imported as text and served as it is.
declare const text: string
export default text
