/** Browser assets imported as text (`with { type: 'text' }`) and served as they are. */
declare module '*.css' {
  const text: string
  export default text
}
