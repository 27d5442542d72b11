// Swagger UI over this API's own description (relative: the API may be mounted under a prefix).
window.addEventListener('DOMContentLoaded', () => {
  window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#swagger-ui', deepLinking: true });
});
